/**
 * Whole-model figures for anchorgrad: the autodiff overhead
 * (time of valueAndGrad(f) / time of f) for an MLP and for the tiny
 * InternVL, and one DPO and one ACPO training step of the tiny InternVL
 * (forward of chosen and rejected, sequence log-probs, objective, backward,
 * AdamW update). The InternVL rows report "unavailable: <reason>" when the
 * model code cannot run.
 *
 * Then anchorgrad against PyTorch on the whole model (`internvlVsTorch`):
 * the tiny, small and small-v8k presets, saved in the "-hf" layout and read
 * by both sides, forward and one DPO step at each pairs × tokens shape,
 * PyTorch being bench/peers/internvl_torch.py (an independent
 * implementation) at its fastest configuration. A torch time counts only
 * once its first 3 steps' losses and log-prob sums agree with ours to 1e-4
 * relative: otherwise the two would not be timing the same computation.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ag from "../src/index.js";
import { embedIndex } from "../src/models/internvl/model.js";
import { adamw } from "../src/optim/index.js";
import { data } from "./cases.js";
import { timeMedian } from "./harness.js";
import { errorText } from "./impl.js";
import { keepBest, runPython, type Best, type TorchConfig } from "./peers/torch.js";

type T = ag.Tensor;

export interface ModelRow {
  kernel: string;
  size: string;
  /** Median ms of the measured call (valueAndGrad, or one training step). */
  ms?: number;
  /** valueAndGrad time / forward time. */
  overhead?: number;
  forwardMs?: number;
  stepsPerS?: number;
  unavailable?: string;
  /** Against PyTorch (internvlVsTorch rows): its fastest median and the configuration that gave it. */
  torch?: Best;
  /** Why there is no torch time (not installed, failed, or its losses disagreed with ours). */
  torchUnavailable?: string;
  /** The loss check against torch, as printed. */
  check?: string;
}

/** Whole-model runs are short (ms), so medians of many runs cost little and steady the ratios. */
const plan = (full: boolean) => ({ iterations: full ? 60 : 40, warmup: 3 });
const WARM_BOTH = 5;

async function overhead(kernel: string, size: string, f: () => unknown, vg: () => unknown, full: boolean): Promise<ModelRow> {
  // results are released each run, as a training loop would (kept ones pile up in the heap)
  const runF = () => {
      ag.scope(() => {
        f();
      });
    },
    runVg = () => {
      ag.scope(() => {
        vg();
      });
    };
  // both warm (compiled code, heap blocks of every size) before either is timed, so neither pays for the other's first runs
  for (let i = 0; i < WARM_BOTH; i++) {
    runF();
    runVg();
  }
  const fwd = await timeMedian(runF, plan(full));
  const both = await timeMedian(runVg, plan(full));
  return { kernel, size, ms: both.ms, forwardMs: fwd.ms, overhead: both.ms / fwd.ms };
}

function mlpRow(full: boolean): Promise<ModelRow> {
  const [B, D, Hd] = full ? [512, 1024, 4096] : [256, 512, 2048];
  const x = ag.tensor(data(B * D, 1), { shape: [B, D] });
  const p = {
    w1: ag.tensor(data(D * Hd, 2, 0.05), { shape: [D, Hd] }),
    b1: ag.zeros([Hd]),
    w2: ag.tensor(data(Hd * D, 3, 0.05), { shape: [Hd, D] }),
    b2: ag.zeros([D]),
  };
  const mlp = (q: typeof p) => ag.add(ag.matmul(ag.gelu(ag.add(ag.matmul(x, q.w1), q.b1)), q.w2), q.b2);
  const f = (q: typeof p) => {
    const y = mlp(q);
    return ag.mean(ag.mul(y, y));
  };
  return overhead(
    "autodiff.overhead",
    `mlp ${B}×${D}→${Hd}→${D}`,
    () => f(p),
    () => ag.valueAndGrad(f)(p),
    full,
  );
}

export interface Tiny {
  config: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  params: unknown;
  ids: (seed: number) => T;
  pixels: T;
}

export function tinyInternVL(B: number, T: number): Tiny {
  const iv = (ag as unknown as { models?: { internvl?: Record<string, any> } }).models?.internvl; // eslint-disable-line @typescript-eslint/no-explicit-any
  if (!iv?.preset || !iv.initParams || !iv.forward || !iv.tokensPerTile)
    throw new Error("ag.models.internvl (preset, initParams, forward) is not there yet");
  const config = iv.preset("tiny");
  const params = iv.initParams(config, 0);
  const img = iv.tokensPerTile(config) as number;
  if (T <= img + 2) throw new Error(`sequence of ${T} tokens cannot hold ${img} image tokens`);
  const V = config.text.vocabSize as number;
  const ids = (seed: number) => {
    const out = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const word = 1 + ((seed * 7919 + b * 131 + t * 17) % Math.max(1, V - 8));
        out[b * T + t] = t >= 1 && t <= img ? config.imageTokenId : word === config.imageTokenId ? word + 1 : word;
      }
    }
    return ag.tensor(out, { shape: [B, T], dtype: "int32" });
  };
  const S = config.vision.imageSize as number;
  const pixels = ag.tensor(data(B * 3 * S * S, 5), { shape: [B, 3, S, S] });
  return { config, params, ids, pixels };
}

export function forwardOf(m: Tiny) {
  const iv = (ag as unknown as { models: { internvl: { forward: (c: unknown, p: unknown, i: unknown) => T } } }).models.internvl;
  return (params: unknown, ids: T) => iv.forward(m.config, params, { inputIds: ids, pixelValues: m.pixels });
}

async function internvlOverhead(full: boolean): Promise<ModelRow> {
  const [B, T] = full ? [4, 64] : [2, 32];
  const size = `tiny B=${B} T=${T}`;
  try {
    const m = tinyInternVL(B, T);
    const fwd = forwardOf(m),
      ids = m.ids(1);
    const f = (p: unknown) => ag.mean(fwd(p, ids));
    return await overhead(
      "autodiff.overhead",
      `internvl ${size}`,
      () => f(m.params),
      () => ag.valueAndGrad(f)(m.params),
      full,
    );
  } catch (e) {
    return { kernel: "autodiff.overhead", size: `internvl ${size}`, unavailable: errorText(e) };
  }
}

/** A batch's per-sequence completion log-prob sums and token counts under params. */
export type Logps = (params: unknown, ids: T) => { sum: T; count: T };

/**
 * A preference objective's loss on one chosen and one rejected batch, as a
 * function of the params; the reference log-probs (`ref`, the caller's to
 * dispose) are scored once, at `ref0`.
 */
export function pairLoss(
  logps: Logps,
  ref0: unknown,
  chosen: T,
  rejected: T,
  objective: ag.objectives.Objective,
): { loss: (params: unknown) => T; ref: { c: T; r: T } } {
  const ref = ag.scope(() => ({ c: logps(ref0, chosen).sum, r: logps(ref0, rejected).sum }));
  const loss = (p: unknown) => {
    const c = logps(p, chosen),
      r = logps(p, rejected);
    return objective({
      policyChosenLogps: c.sum,
      policyRejectedLogps: r.sum,
      refChosenLogps: ref.c,
      refRejectedLogps: ref.r,
      chosenLengths: c.count,
      rejectedLengths: r.count,
    }).loss;
  };
  return { loss, ref };
}

async function trainStep(objective: "dpo" | "acpo", full: boolean): Promise<ModelRow> {
  const [B, T] = full ? [4, 64] : [2, 32];
  const size = `tiny B=${B} T=${T}`;
  try {
    const m = tinyInternVL(B, T);
    const fwd = forwardOf(m);
    const chosen = m.ids(1),
      rejected = m.ids(2);
    const mask = ag.ones([B, T]);
    const obj = (ag.objectives as Record<string, any>)[objective]({ beta: 0.1 }); // eslint-disable-line @typescript-eslint/no-explicit-any
    const { loss } = pairLoss((p, ids) => ag.sequenceLogps(fwd(p, ids), ids, mask), m.params, chosen, rejected, obj);
    const opt = adamw({ lr: 1e-4 });
    let state = { params: m.params, opt: opt.init(m.params) };
    const step = () => {
      const next = ag.scope(() => {
        const [, grads] = ag.valueAndGrad(loss)(state.params);
        const u = opt.update(grads, state.opt, state.params);
        return { params: u.params, opt: u.state };
      });
      // the previous step's parameters and optimiser state go, as in train()
      const live = new Set(ag.treeLeaves(next));
      if (state.params !== m.params) for (const t of ag.treeLeaves(state)) if (t instanceof ag.Tensor && !live.has(t)) t.dispose();
      state = next;
    };
    const t = await timeMedian(step, plan(full));
    return { kernel: `train.${objective}.step`, size, ms: t.ms, stepsPerS: 1000 / t.ms };
  } catch (e) {
    return { kernel: `train.${objective}.step`, size, unavailable: errorText(e) };
  }
}

// --- anchorgrad against PyTorch on the whole model --------------------------

/** AdamW and DPO settings of the whole-model comparison, the same on both sides. */
export const DPO_HP = { lr: 1e-4, beta: 0.1, weightDecay: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8 } as const;
export type DpoHp = { readonly [K in keyof typeof DPO_HP]: number };

/** The presets and the [perf-cpu] issue's pairs × tokens shapes. */
export const TORCH_PRESETS = ["tiny", "small", "small-v8k"] as const;
export const TORCH_SHAPES = [
  { pairs: 2, tokens: 32 },
  { pairs: 4, tokens: 64 },
] as const;

/** How many steps from the initial parameters must agree before a torch time counts, and how closely. */
export const CHECK_STEPS = 3;
export const CHECK_RTOL = 1e-4;

/** One model and one batch of preference pairs, as both sides see them. */
export interface DpoCase {
  readonly name: string;
  /** The "-hf" model directory both sides load. */
  readonly dir: string;
  readonly pairs: number;
  readonly tokens: number;
  readonly config: ag.models.internvl.InternVLConfig;
  readonly params: ag.models.internvl.InternVLParams;
  /** [pairs, tokens] token ids: the image's tokens at positions 1..n, then words. */
  readonly chosen: Int32Array;
  readonly rejected: Int32Array;
  /** [pairs, 3, S, S]: one tile per pair, seen by its chosen and its rejected sequence. */
  readonly pixels: Float32Array;
}

/** What the first steps computed: the loss and the policy's log-prob sums of each step. */
export interface DpoTrace {
  readonly losses: number[];
  readonly chosen: number[][];
  readonly rejected: number[][];
}

/** Deterministic ids: BOS-like word, the image tokens, then words (never the image token) — the tiny rows' recipe. */
function pairIds(config: ag.models.internvl.InternVLConfig, B: number, T: number, seed: number): Int32Array {
  const img = ag.models.internvl.tokensPerTile(config);
  if (T <= img + 2) throw new Error(`a sequence of ${T} tokens cannot hold ${img} image tokens`);
  const V = config.text.vocabSize;
  const out = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const word = 1 + ((seed * 7919 + b * 131 + t * 17) % Math.max(1, V - 8));
      out[b * T + t] = t >= 1 && t <= img ? config.imageTokenId : word === config.imageTokenId ? word + 1 : word;
    }
  }
  return out;
}

/** A random "-hf" model of `preset` in `dir` (seed 0), loaded back as the torch peer will read it. */
export async function presetModel(dir: string, preset: string): Promise<ag.models.internvl.InternVLModel> {
  await ag.models.internvl.createModel(dir, { preset, layout: "hf", seed: 0 });
  return ag.models.internvl.load(dir);
}

export function dpoCase(name: string, dir: string, model: ag.models.internvl.InternVLModel, pairs: number, tokens: number): DpoCase {
  const S = model.config.vision.imageSize;
  return {
    name,
    dir,
    pairs,
    tokens,
    config: model.config,
    params: model.params,
    chosen: pairIds(model.config, pairs, tokens, 1),
    rejected: pairIds(model.config, pairs, tokens, 2),
    pixels: data(pairs * 3 * S * S, 5),
  };
}

/**
 * anchorgrad's side of a case: `forward` runs the model on the DPO batch
 * (chosen and rejected as one batch of 2·pairs sequences); `step` is one DPO
 * step from the current state (the previous step's parameters and optimiser
 * state are disposed, as train() does) and returns the loss and the
 * policy's log-prob sums when asked to read them back. Both are jitted, as
 * ag.train's default path is.
 */
export function anchorgradDpo(c: DpoCase, hp: DpoHp = DPO_HP) {
  const { forward } = ag.models.internvl;
  const S = c.config.vision.imageSize,
    P = c.pairs,
    T = c.tokens;
  const both = new Int32Array(2 * P * T);
  both.set(c.chosen);
  both.set(c.rejected, P * T);
  const ids = ag.tensor(both, { shape: [2 * P, T], dtype: "int32" });
  const tile = ag.tensor(c.pixels, { shape: [P, 3, S, S] });
  const pixels = ag.concat([tile, tile], 0);
  const mask = ag.ones([2 * P, T]);
  // the image splice from the host ids, as ag.train's prepare computes it, so a traced forward reads no ids
  const tokens = P * 2 * ag.models.internvl.tokensPerTile(c.config);
  const index = ag.tensor(embedIndex(c.config, both, tokens, "bench"), { dtype: "int32" });
  const batch = { inputIds: ids, pixelValues: pixels, embedIndex: index };
  const run = (p: unknown, b: typeof batch) => forward(c.config, p as ag.models.internvl.InternVLParams, b);
  const sums = (p: unknown, b: typeof batch) => {
    const s = ag.sequenceLogps(run(p, b), b.inputIds, mask).sum;
    return { c: ag.slice(s, [0], [P]), r: ag.slice(s, [P], [2 * P]) };
  };
  const ref = ag.scope(() => sums(c.params, batch));
  const objective = ag.objectives.dpo({ beta: hp.beta });
  const loss = (p: unknown, b: typeof batch) => {
    const s = sums(p, b);
    const out = objective({
      policyChosenLogps: s.c,
      policyRejectedLogps: s.r,
      refChosenLogps: ref.c,
      refRejectedLogps: ref.r,
      chosenLengths: ag.full([P], T - 1),
      rejectedLengths: ag.full([P], T - 1),
    }).loss;
    return { loss: out, aux: s };
  };
  const opt = adamw({ lr: hp.lr, beta1: hp.beta1, beta2: hp.beta2, eps: hp.eps, weightDecay: hp.weightDecay });
  const lossAndGrads = (params: unknown, b: typeof batch) => {
    let aux: { c: ag.Tensor; r: ag.Tensor } | undefined;
    const [value, grads] = ag.valueAndGrad((p: unknown) => {
      const out = loss(p, b);
      aux = out.aux;
      return out.loss;
    })(params);
    return { value, grads, aux: aux! };
  };
  const pass = ag.jit(lossAndGrads);
  const fwd = ag.jit(run);
  let state = { params: c.params as unknown, opt: opt.init(c.params) };
  const step = (read: boolean): { loss: number; chosen: number[]; rejected: number[] } | undefined => {
    let seen: { loss: number; chosen: number[]; rejected: number[] } | undefined;
    const next = ag.scope(() => {
      const { value, grads, aux } = pass(state.params, batch);
      if (read) {
        seen = { loss: value.item(), chosen: [...aux.c.dataSync()], rejected: [...aux.r.dataSync()] };
      }
      const u = opt.update(grads, state.opt, state.params);
      return { params: u.params as unknown, opt: u.state };
    });
    const live = new Set(ag.treeLeaves(next));
    if (state.params !== c.params) for (const t of ag.treeLeaves(state)) if (t instanceof ag.Tensor && !live.has(t)) t.dispose();
    state = next;
    return seen;
  };
  return {
    forward: () => {
      ag.scope(() => {
        fwd(state.params, batch).dataSync();
      });
    },
    step: () => {
      step(false);
    },
    /** `n` steps, reading back each loss and the policy's log-prob sums. */
    trace: (n: number): DpoTrace => {
      const out: DpoTrace = { losses: [], chosen: [], rejected: [] };
      for (let i = 0; i < n; i++) {
        const s = step(true)!;
        out.losses.push(s.loss);
        out.chosen.push(s.chosen);
        out.rejected.push(s.rejected);
      }
      return out;
    },
  };
}

/** The torch peer's job entry for a case (internvl_torch.py's input). */
export function torchJobCase(
  id: string,
  c: DpoCase,
  opts: { iterations: number; warmup: number; budgetMs: number; time: boolean },
  hp: DpoHp = DPO_HP,
) {
  const rows = (a: Int32Array) => Array.from({ length: c.pairs }, (_, b) => [...a.subarray(b * c.tokens, (b + 1) * c.tokens)]);
  const S = c.config.vision.imageSize;
  return {
    id,
    dir: c.dir,
    pairs: c.pairs,
    chosen: rows(c.chosen),
    rejected: rows(c.rejected),
    pixels: { shape: [c.pairs, 3, S, S], data: [...c.pixels] },
    hp: { lr: hp.lr, beta: hp.beta, weight_decay: hp.weightDecay, betas: [hp.beta1, hp.beta2], eps: hp.eps },
    check_steps: CHECK_STEPS,
    iterations: opts.iterations,
    warmup: opts.warmup,
    budget_ms: opts.budgetMs,
    time: opts.time,
  };
}

export interface TorchCaseResult extends DpoTrace {
  forward_ms?: number;
  step_ms?: number;
  /** Which AdamW loop gave step_ms ("foreach" or "for-loop"). */
  adamw?: string;
}

/**
 * Does torch's trace agree with ours? Every loss and every log-prob sum, at
 * `rtol` relative to the larger magnitude (the first loss is log 2 on both
 * sides whatever the models do; the sums are what tie the forward passes).
 */
export function compareTraces(ours: DpoTrace, theirs: DpoTrace, rtol = CHECK_RTOL): { ok: boolean; worst: number; detail: string } {
  let worst = 0,
    where = "";
  const look = (what: string, a: number, b: number) => {
    const rel = Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-30);
    if (!(rel <= worst)) [worst, where] = [Number.isNaN(rel) ? Infinity : rel, `${what}: anchorgrad ${a}, torch ${b}`];
  };
  if (theirs.losses.length !== ours.losses.length)
    return { ok: false, worst: Infinity, detail: `torch ran ${theirs.losses.length} steps, we ran ${ours.losses.length}` };
  ours.losses.forEach((l, i) => {
    look(`step ${i + 1} loss`, l, theirs.losses[i]!);
    ours.chosen[i]!.forEach((x, j) => look(`step ${i + 1} chosen logps[${j}]`, x, theirs.chosen[i]![j]!));
    ours.rejected[i]!.forEach((x, j) => look(`step ${i + 1} rejected logps[${j}]`, x, theirs.rejected[i]![j]!));
  });
  const ok = worst <= rtol;
  return {
    ok,
    worst,
    detail: ok
      ? `${ours.losses.length} steps agree (max rel ${worst.toExponential(1)})`
      : `disagree beyond ${rtol}: ${where} (rel ${worst.toExponential(1)})`,
  };
}

/**
 * The forward and DPO-step rows, anchorgrad and torch side by side: every
 * anchorgrad case first, then the torch peer once per configuration over all
 * cases, keeping the fastest configuration per row.
 */
export async function internvlVsTorch(
  full: boolean,
  configs: readonly TorchConfig[],
  log: (s: string) => void = () => {},
): Promise<ModelRow[]> {
  const root = mkdtempSync(join(tmpdir(), "anchorgrad-bench-"));
  const cases: DpoCase[] = [];
  const rows: { fwd: ModelRow; step: ModelRow; trace?: DpoTrace }[] = [];
  const ours = { iterations: full ? 60 : 40, warmup: 3, budgetMs: full ? 20_000 : 6_000 };
  for (const preset of TORCH_PRESETS) {
    let model: ag.models.internvl.InternVLModel | undefined, why: string | undefined;
    try {
      model = await presetModel(join(root, preset), preset);
    } catch (e) {
      why = errorText(e);
    }
    for (const { pairs, tokens } of TORCH_SHAPES) {
      const size = `${preset} ${pairs}×${tokens}`;
      const fwd: ModelRow = { kernel: "internvl.forward", size },
        step: ModelRow = { kernel: "internvl.dpo.step", size };
      if (!model) {
        rows.push({ fwd: { ...fwd, unavailable: why! }, step: { ...step, unavailable: why! } });
        continue;
      }
      try {
        const c = dpoCase(size, join(root, preset), model, pairs, tokens);
        const side = anchorgradDpo(c);
        const trace = side.trace(CHECK_STEPS);
        const f = await timeMedian(side.forward, ours);
        const s = await timeMedian(side.step, ours);
        cases.push(c);
        rows.push({ fwd: { ...fwd, ms: f.ms }, step: { ...step, ms: s.ms, stepsPerS: 1000 / s.ms }, trace });
        log(`${size}: anchorgrad forward ${f.ms.toFixed(1)} ms, step ${s.ms.toFixed(1)} ms`);
      } catch (e) {
        rows.push({ fwd: { ...fwd, unavailable: errorText(e) }, step: { ...step, unavailable: errorText(e) } });
      }
    }
  }
  const measured = rows.filter((r) => r.trace);
  const job = {
    cases: cases.map((c, i) =>
      // the check steps warm torch up; a small budget keeps 6 configurations × 6 cases affordable
      torchJobCase(String(i), c, { iterations: full ? 60 : 40, warmup: 2, budgetMs: full ? 6_000 : 1_500, time: true }),
    ),
  };
  const bestFwd = new Map<number, Best>(),
    bestStep = new Map<number, Best>();
  const failed = new Map<number, string>();
  let unavailable: string | undefined;
  for (const config of configs) {
    if (cases.length === 0) break;
    const r = runPython<{ results: Record<string, TorchCaseResult | { error: string }> }>("internvl_torch.py", job, config);
    if (r.unavailable !== undefined) {
      unavailable ??= r.unavailable;
      log(`torch InternVL (${config.name}): unavailable: ${r.unavailable}`);
      continue;
    }
    measured.forEach((row, i) => {
      const t = r.out.results[String(i)];
      if (!t || "error" in t) return void failed.set(i, t ? t.error : "no result");
      const check = compareTraces(row.trace!, t);
      if (!check.ok) return void failed.set(i, `loss check failed (${config.name}): ${check.detail}`);
      row.step.check = row.fwd.check = check.detail;
      keepBest(bestFwd, i, t.forward_ms!, config.name);
      keepBest(bestStep, i, t.step_ms!, `${config.name}, AdamW ${t.adamw}`);
    });
    log(`torch InternVL (${config.name}) done`);
  }
  measured.forEach((row, i) => {
    const why = failed.get(i) ?? unavailable ?? "no configuration ran";
    // a configuration whose losses disagreed never counts; the others still do, and the check says which was left out
    if (failed.get(i)?.startsWith("loss check failed"))
      row.fwd.check = row.step.check = `${row.fwd.check ?? "no configuration agreed"}; ${failed.get(i)}`;
    for (const [r, best] of [
      [row.fwd, bestFwd.get(i)],
      [row.step, bestStep.get(i)],
    ] as const) {
      if (best) r.torch = best;
      else r.torchUnavailable = why;
    }
  });
  return rows.flatMap((r) => [r.fwd, r.step]);
}

export async function modelRows(full: boolean, torchConfigs: readonly TorchConfig[] = [], log?: (s: string) => void): Promise<ModelRow[]> {
  const own = [await mlpRow(full), await internvlOverhead(full), await trainStep("dpo", full), await trainStep("acpo", full)];
  return [...own, ...(torchConfigs.length ? await internvlVsTorch(full, torchConfigs, log) : [])];
}

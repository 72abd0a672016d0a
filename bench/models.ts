/**
 * Whole-model figures for anchorgrad: the autodiff overhead
 * (time of valueAndGrad(f) / time of f) for an MLP and for the tiny
 * InternVL, and one DPO and one ACPO training step of the tiny InternVL
 * (forward of chosen and rejected, sequence log-probs, objective, backward,
 * AdamW update). The InternVL rows report "unavailable: <reason>" when the
 * model code cannot run.
 */
import * as ag from "../src/index.js";
import { adamw } from "../src/optim/index.js";
import { data } from "./cases.js";
import { timeMedian } from "./harness.js";
import { errorText } from "./impl.js";

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

interface Tiny {
  config: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  params: unknown;
  ids: (seed: number) => T;
  pixels: T;
}

function tinyInternVL(B: number, T: number): Tiny {
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

function forwardOf(m: Tiny) {
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
    const logps = (p: unknown, ids: T) => ag.sequenceLogps(fwd(p, ids), ids, mask);
    const ref = ag.scope(() => ({ c: logps(m.params, chosen), r: logps(m.params, rejected) }));
    const loss = (p: unknown) => {
      const c = logps(p, chosen),
        r = logps(p, rejected);
      return obj({
        policyChosenLogps: c.sum,
        policyRejectedLogps: r.sum,
        refChosenLogps: ref.c.sum,
        refRejectedLogps: ref.r.sum,
        chosenLengths: c.count,
        rejectedLengths: r.count,
      }).loss as T;
    };
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

export async function modelRows(full: boolean): Promise<ModelRow[]> {
  return [await mlpRow(full), await internvlOverhead(full), await trainStep("dpo", full), await trainStep("acpo", full)];
}

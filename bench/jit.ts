/**
 * jit against eager, in the same run (the [ir] issue's benchmarks):
 *
 * - an 8-op elementwise chain on 2^20 float32 elements: ag.jit(chain) and
 *   the chain op by op on the cpu, and jax-js's jit of the same chain (Wasm);
 * - the autodiff overhead (valueAndGrad time / forward time) of the tiny
 *   InternVL, with both jitted and both eager;
 * - one DPO training step of the tiny InternVL on the cpu and on webgpu:
 *   jit(valueAndGrad(loss)) with the optimizer's jitted update, against
 *   valueAndGrad op by op with `adamw({ jit: false })`; on webgpu also the
 *   dispatches, new GPU buffers and readbacks per step (the runtime's
 *   counters), and the compile time (trace + plan, Jitted.compileMs) of the
 *   pass;
 * - the [webgpu-train] issue's sustained loop with no await (30,000 ops;
 *   100,000 with --full): ops per second and the RSS slope.
 *
 * Few runs each (medians): these rows add little to a default run.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as ag from "../src/index.js";
import { adamw } from "../src/optim/index.js";
import { data } from "./cases.js";
import { timeMedian, type Plan } from "./harness.js";
import { errorText } from "./impl.js";
import { embedIndex } from "../src/models/internvl/model.js";
import { knownValues } from "../src/ops/create.js";
import { pairLoss, tinyInternVL, type Tiny } from "./models.js";
import { startJax } from "./peers/jaxjs.js";

type T = ag.Tensor;

export interface JitRow {
  figure: string;
  size: string;
  backend: "cpu" | "webgpu";
  /** Median ms with jit, and op by op. */
  jitMs?: number;
  eagerMs?: number;
  /** jax-js's jit of the same computation (chain only). */
  jaxjsMs?: number;
  /** Autodiff-overhead rows: the forward medians the ratios divide by. */
  jitFwdMs?: number;
  eagerFwdMs?: number;
  /** Train-step rows on WebGPU: kernel dispatches, new GPU buffers and host readbacks in one step. */
  jitCounts?: StepCounts;
  eagerCounts?: StepCounts;
  /** The sustained-loop row: free text (ops/s, RSS slope). */
  note?: string;
  /** Train-step rows: trace + plan of the pass, ms; and the first jitted step's wall time. */
  compileMs?: number;
  firstStepMs?: number;
  unavailable?: string;
  jaxjsUnavailable?: string;
}

const CHAIN_N = 1 << 20;

/**
 * Medians of `runs` timed calls of each thunk, the thunks taking turns (a, b,
 * a, b, ...) so that a burst of load on a shared machine hits both sides of
 * a ratio alike.
 */
async function interleaved(thunks: readonly (() => unknown)[], runs: number): Promise<number[]> {
  const times = thunks.map(() => [] as number[]);
  for (let r = 0; r < runs; r++) {
    for (const [i, f] of thunks.entries()) {
      const t0 = performance.now();
      await f();
      times[i]!.push(performance.now() - t0);
    }
  }
  return times.map((ts) => ts.sort((a, b) => a - b)[Math.floor(ts.length / 2)]!);
}

/**
 * The tiny model's forward with the image splice precomputed from the host
 * ids (as ag.train's prepare does), so that a traced forward reads no ids.
 */
function forwardOf(m: Tiny, ...idss: T[]) {
  const tiles = m.pixels.shape[0]!;
  const index = new Map(
    idss.map((ids) => {
      const host = embedIndex(m.config, knownValues(ids)!, tiles * ag.models.internvl.tokensPerTile(m.config), "bench");
      return [ids, ag.tensor(host, { shape: [host.length], dtype: "int32" })] as const;
    }),
  );
  return (params: unknown, ids: T) =>
    ag.models.internvl.forward(m.config, params as ag.models.internvl.InternVLParams, {
      inputIds: ids,
      pixelValues: m.pixels,
      embedIndex: index.get(ids)!,
    });
}

/** The chain: mul, add, mul, sub, neg, exp, add, div (8 elementwise primitives). */
function chain(x: T): T {
  let t = ag.mul(x, 1.5);
  t = ag.add(t, 0.5);
  t = ag.mul(t, t);
  t = ag.sub(t, x);
  t = ag.neg(t);
  t = ag.exp(t);
  t = ag.add(t, 1);
  return ag.div(x, t);
}

async function chainRow(plan: Plan): Promise<JitRow> {
  const row: JitRow = { figure: "chain of 8 elementwise ops", size: "2^20 f32", backend: "cpu" };
  try {
    await ag.useBackend("cpu");
    const x = ag.tensor(data(CHAIN_N, 1), { shape: [CHAIN_N] });
    const jitted = ag.jit(chain);
    const a = ag.scope(() => chain(x).dataSync().slice()),
      b = ag.scope(() => jitted(x).dataSync().slice());
    if (!a.every((v, i) => Object.is(v, b[i]))) throw new Error("jit and eager chains disagree");
    const runs = [() => ag.scope(() => void chain(x)), () => ag.scope(() => void jitted(x))];
    await interleaved(runs, plan.warmup);
    [row.eagerMs, row.jitMs] = await interleaved(runs, plan.iterations);
    x.dispose();
  } catch (e) {
    return { ...row, unavailable: errorText(e) };
  }
  try {
    /* eslint-disable @typescript-eslint/no-explicit-any */
    const jax: any = await startJax();
    const np = jax.numpy;
    const x = np.array(data(CHAIN_N, 1), { device: "wasm" });
    const jf = jax.jit((x: any) => {
      let t = x.ref.mul(1.5);
      t = t.add(0.5);
      t = t.ref.mul(t);
      t = t.sub(x.ref);
      t = t.neg();
      t = np.exp(t);
      t = t.add(1);
      return x.div(t);
    });
    /* eslint-enable @typescript-eslint/no-explicit-any */
    const t = await timeMedian(async () => {
      const out = jf(x.ref);
      await jax.blockUntilReady(out);
      out.dispose();
    }, plan);
    row.jaxjsMs = t.ms;
    x.dispose();
  } catch (e) {
    row.jaxjsUnavailable = errorText(e);
  }
  return row;
}

async function overheadRow(plan: Plan): Promise<JitRow> {
  const [B, Tk] = [2, 32];
  const row: JitRow = { figure: "autodiff overhead (valueAndGrad / forward)", size: `internvl tiny B=${B} T=${Tk}`, backend: "cpu" };
  try {
    await ag.useBackend("cpu");
    const m = tinyInternVL(B, Tk);
    const ids = m.ids(1),
      fwd = forwardOf(m, ids);
    const f = (p: unknown) => ag.mean(fwd(p, ids));
    const vg = ag.valueAndGrad(f);
    const jf = ag.jit(f),
      jvg = ag.jit(vg);
    const [a, b] = [vg(m.params)[0].item(), jvg(m.params)[0].item()];
    if (!Object.is(a, b)) throw new Error(`jit and eager losses differ: ${b} vs ${a}`);
    const runs = [f, vg, jf, jvg].map((g) => () => ag.scope(() => void g(m.params)));
    await interleaved(runs, 3);
    // a ratio of two medians of ~5 ms figures: more runs than the other rows, or GC pauses decide it
    [row.eagerFwdMs, row.eagerMs, row.jitFwdMs, row.jitMs] = await interleaved(runs, Math.max(plan.iterations, 31));
    return row;
  } catch (e) {
    return { ...row, unavailable: errorText(e) };
  }
}

export interface StepCounts {
  dispatches: number;
  allocations: number;
  readbacks: number;
}

/** The WebGPU runtime's counters (its deviceStats), or null where the backend keeps none. */
function stepCounter(backend: unknown): (() => StepCounts) | null {
  const b = backend as { deviceStats?: () => Record<string, number> | undefined };
  if (typeof b.deviceStats?.()?.dispatches !== "number") return null;
  return () => {
    const s = b.deviceStats!()!;
    return { dispatches: s.dispatches!, allocations: s.allocations ?? 0, readbacks: s.readbacks ?? 0 };
  };
}

async function trainStepRow(backendName: "cpu" | "webgpu", plan: Plan): Promise<JitRow> {
  const [B, Tk] = [2, 32];
  const row: JitRow = { figure: "DPO train step", size: `internvl tiny B=${B} T=${Tk}`, backend: backendName };
  try {
    const backend = await ag.useBackend(backendName);
    const count = backendName === "webgpu" ? stepCounter(backend) : null;
    const m = tinyInternVL(B, Tk);
    const chosen = m.ids(1),
      rejected = m.ids(2);
    const fwd = forwardOf(m, chosen, rejected);
    const mask = ag.ones([B, Tk]);
    const obj = ag.objectives.dpo({ beta: 0.1 });
    const { loss } = pairLoss((p, ids) => ag.sequenceLogps(fwd(p, ids), ids, mask), m.params, chosen, rejected, obj);
    const setup = (jit: boolean) => {
      const vg = jit ? ag.jit(ag.valueAndGrad(loss)) : ag.valueAndGrad(loss);
      const opt = adamw({ lr: 1e-4, jit });
      let state = { params: m.params, opt: opt.init(m.params) };
      const step = async () => {
        const next = await ag.scope(async () => {
          const [value, grads] = vg(state.params);
          const u = opt.update(grads, state.opt, state.params);
          await value.data(); // one readback per step, as train() does
          return { params: u.params, opt: u.state };
        });
        const live = new Set(ag.treeLeaves(next));
        if (state.params !== m.params) for (const t of ag.treeLeaves(state)) if (t instanceof ag.Tensor && !live.has(t)) t.dispose();
        state = next;
      };
      return { step, vg };
    };
    const first = async (jit: boolean) => {
      const s = setup(jit);
      const t0 = performance.now();
      await s.step();
      const ms = performance.now() - t0;
      await s.step();
      const before = count?.();
      await s.step();
      const after = count?.();
      const counts =
        before && after
          ? {
              dispatches: after.dispatches - before.dispatches,
              allocations: after.allocations - before.allocations,
              readbacks: after.readbacks - before.readbacks,
            }
          : undefined;
      return { s, first: ms, counts, compileMs: (s.vg as Partial<ag.Jitted<() => void>>).compileMs };
    };
    const eager: Awaited<ReturnType<typeof first>> & { ms?: number } = await first(false);
    const jit: Awaited<ReturnType<typeof first>> & { ms?: number } = await first(true);
    [eager.ms, jit.ms] = await interleaved([eager.s.step, jit.s.step], plan.iterations);
    row.eagerMs = eager.ms;
    row.jitMs = jit.ms;
    row.firstStepMs = jit.first;
    row.compileMs = jit.compileMs;
    if (eager.counts) row.eagerCounts = eager.counts;
    if (jit.counts) row.jitCounts = jit.counts;
    return row;
  } catch (e) {
    return { ...row, unavailable: errorText(e) };
  } finally {
    await ag.useBackend("cpu");
  }
}

/**
 * The [webgpu-train] issue's sustained loop (bench/webgpu-sustained.ts)
 * for `ops` dispatches, no await inside, in a process of its own (this
 * one's RSS moves with every row before it): ops per second and the RSS
 * growth and slope after warm-up. The 1,000,000-op run is the script itself.
 */
function sustainedRow(ops: number): JitRow {
  const row: JitRow = { figure: "sustained loop, no await", size: `${ops.toLocaleString("en")} ops, 128²`, backend: "webgpu" };
  const script = fileURLToPath(new URL("./webgpu-sustained.ts", import.meta.url));
  const run = spawnSync(process.execPath, ["--import", "tsx", script, "--ops", String(ops), "--every", String(ops / 20)], {
    encoding: "utf8",
    timeout: 600_000,
  });
  const done = /done: (\d+) ops in [\d.]+ s \((\d+) ops\/s.*RSS grew (-?[\d.]+) MB, slope (-?\d+) bytes\/op/.exec(run.stdout ?? "");
  if (run.status !== 0 || !done) return { ...row, unavailable: (run.stderr || run.stdout || String(run.error)).trim().split("\n").at(-1)! };
  row.note = `${done[2]} ops/s; after warm-up RSS ${Number(done[3]) >= 0 ? "+" : ""}${done[3]} MB, slope ${done[4]} bytes/op`;
  return row;
}

/** Every jit row; `log` reports each as it finishes. */
export async function jitRows(full: boolean, log: (s: string) => void = () => {}): Promise<JitRow[]> {
  const plan: Plan = { iterations: full ? 20 : 9, warmup: 2 };
  const rows: JitRow[] = [];
  const makers = [
    () => chainRow({ ...plan, iterations: full ? 30 : 15 }),
    () => overheadRow(plan),
    () => trainStepRow("cpu", plan),
    () => trainStepRow("webgpu", plan),
    async () => sustainedRow(full ? 100_000 : 30_000),
  ];
  // ANCHORGRAD_BENCH_JIT=0,2 runs only those rows (for profiling one of them)
  const pick = process.env.ANCHORGRAD_BENCH_JIT?.split(",").map(Number);
  for (const make of pick ? makers.filter((_, i) => pick.includes(i)) : makers) {
    const r = await make();
    rows.push(r);
    log(
      `jit ${r.figure} ${r.backend}: ${r.unavailable ? `unavailable: ${r.unavailable}` : (r.note ?? `jit ${r.jitMs?.toFixed(2)} ms, eager ${r.eagerMs?.toFixed(2)} ms`)}`,
    );
  }
  return rows;
}

const ms = (x: number | undefined) => (x === undefined ? "" : `${x.toFixed(x >= 100 ? 0 : 2)} ms`);
const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? "" : `${(a / b).toFixed(2)}×`);

/** The printed table: jit, eager and jax-js's jit side by side, with the ratios each target reads. */
export function jitTable(rows: readonly JitRow[]): string[][] {
  const head = ["figure", "size", "backend", "jit", "eager", "eager / jit", "jax-js jit", "jax-js / jit", "detail"];
  return [
    head,
    ...rows.map((r) => {
      if (r.unavailable) return [r.figure, r.size, r.backend, "n/a", "n/a", "", "", "", `unavailable: ${r.unavailable}`];
      const over = r.jitFwdMs !== undefined;
      const detail = over
        ? `overhead: jit ${ratio(r.jitMs, r.jitFwdMs)} (fwd ${ms(r.jitFwdMs)}), eager ${ratio(r.eagerMs, r.eagerFwdMs)} (fwd ${ms(r.eagerFwdMs)})`
        : [
            r.jitCounts &&
              r.eagerCounts &&
              `per step: dispatches jit ${r.jitCounts.dispatches}, eager ${r.eagerCounts.dispatches}; ` +
                `new GPU buffers jit ${r.jitCounts.allocations}, eager ${r.eagerCounts.allocations}; ` +
                `readbacks jit ${r.jitCounts.readbacks}, eager ${r.eagerCounts.readbacks}`,
            r.note,
            r.compileMs !== undefined && `compile (trace+plan) ${ms(r.compileMs)}, first jit step ${ms(r.firstStepMs)}`,
            r.jaxjsUnavailable && `jax-js: ${r.jaxjsUnavailable}`,
          ]
            .filter(Boolean)
            .join("; ");
      return [
        r.figure,
        r.size,
        r.backend,
        ms(r.jitMs),
        ms(r.eagerMs),
        ratio(r.eagerMs, r.jitMs),
        ms(r.jaxjsMs),
        ratio(r.jaxjsMs, r.jitMs),
        detail,
      ];
    }),
  ];
}

/** The [ir] issue's targets, read from the rows (null: not measured). */
export function jitTargets(rows: readonly JitRow[]): { name: string; pass: boolean | null; detail: string }[] {
  const find = (figure: string, backend: string) => rows.find((r) => r.figure.startsWith(figure) && r.backend === backend);
  const check = (name: string, r: JitRow | undefined, value: (r: JitRow) => number | undefined, ok: (v: number) => boolean) => {
    const v = r && !r.unavailable ? value(r) : undefined;
    return v === undefined
      ? { name, pass: null, detail: `not measured${r?.unavailable ? ` (${r.unavailable})` : ""}` }
      : { name, pass: ok(v), detail: `${v.toFixed(2)}×` };
  };
  return [
    check(
      "cpu 8-op chain: jit ≥ 3× eager",
      find("chain", "cpu"),
      (r) => r.eagerMs! / r.jitMs!,
      (v) => v >= 3,
    ),
    check(
      "tiny InternVL autodiff overhead with jit ≤ 2.0×",
      find("autodiff", "cpu"),
      (r) => r.jitMs! / r.jitFwdMs!,
      (v) => v <= 2,
    ),
    check(
      "webgpu DPO step dispatches: jit ≤ ½ eager (eager / jit ≥ 2×)",
      find("DPO", "webgpu"),
      (r) => (r.jitCounts && r.eagerCounts ? r.eagerCounts.dispatches / r.jitCounts.dispatches : undefined),
      (v) => v >= 2,
    ),
  ];
}

function markdown(table: string[][]): string {
  const [head, ...body] = table;
  return [`| ${head!.join(" | ")} |`, `|${head!.map(() => "---").join("|")}|`, ...body.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

/** bench/results/jit.json and jit.md (kept apart from latest.*, which a whole run writes). */
export function writeJitResults(dir: string, meta: Record<string, unknown>, rows: readonly JitRow[]): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/jit.json`, JSON.stringify({ meta, rows }, null, 2) + "\n");
  const md = [
    "# anchorgrad benchmark: jit against eager",
    "",
    ...Object.entries(meta).map(([k, v]) => `- ${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`),
    "",
    "Medians of a few runs after warmup, jit and eager (and jax-js's jit) in the same process. Ratios are same-run;",
    "on a shared machine the absolute times are noisy.",
    "",
    markdown(jitTable(rows)),
    "",
    "## Targets",
    "",
    ...jitTargets(rows).map((t) => `- ${t.pass === null ? "SKIP" : t.pass ? "PASS" : "FAIL"} ${t.name}: ${t.detail}`),
    "",
  ].join("\n");
  writeFileSync(`${dir}/jit.md`, md);
}

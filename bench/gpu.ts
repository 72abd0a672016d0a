/**
 * `npm run bench:gpu [-- --quick] [--out DIR] [--no-parity]`: the run a GPU
 * machine does, in one script, so a borrowed device's minutes go to
 * measuring and not to setting up. In order:
 *
 * 1. the adapter, its features and the limits the backend requested;
 * 2. the WebGPU op-table parity suite (vitest on test/webgpu/parity.test.ts
 *    in a child process), so figures from a device whose kernels disagree
 *    with the cpu are flagged as such;
 * 3. matmul n³ for n = 512…8192 (quick: 512 and 1024) in float32 and
 *    float16, anchorgrad next to jax-js's WebGPU backend in the same process
 *    on the same adapter; float32 is timed with both of our kernels (direct
 *    and tiled) so the size rule in kernels/matmul.ts can be checked against
 *    the device; each row also gives the max difference from jax-js's result;
 * 4. one DPO training step (forward of chosen and rejected, sequence
 *    log-probs, DPO, backward, AdamW, one readback of the loss) of the tiny
 *    InternVL and of `internvl2-1b-2layer` (InternVL2-1B's shapes with 2
 *    language layers, random weights). In quick mode on a software adapter
 *    the 1B step is skipped when its estimated time at the measured matmul
 *    rate passes a minute, and the output says so.
 *
 * It writes bench/results/gpu-<adapter>.md (lavapipe: gpu-lavapipe-software.md,
 * labelled as software). Under 8 minutes on a real GPU by construction:
 * every timing has a time budget (harness.timeMedian).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as ag from "../src/index.js";
import { releaseBackend } from "../src/backends/registry.js";
import { isSoftwareAdapter } from "../src/backends/webgpu/device.js";
import { loadWebGPU, type WebGPUBackend } from "../src/backends/webgpu/index.js";
import { chooseMatmulKernel, setMatmulKernel, type MatmulKernel } from "../src/backends/webgpu/kernels/matmul.js";
import { adamw } from "../src/optim/index.js";
import { data } from "./cases.js";
import { timeMedian } from "./harness.js";
import { errorText } from "./impl.js";
import { pairLoss } from "./models.js";
import { jaxjsMatmul } from "./peers/jaxjs-matmul.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

export interface GpuBenchOptions {
  quick: boolean;
  /** Where the results file goes (default bench/results). */
  outDir?: string;
  /** Run the parity suite (default true). */
  parity?: boolean;
  log?: (line: string) => void;
}

export interface GpuBenchResult {
  file: string;
  markdown: string;
  software: boolean;
  parity?: { ok: boolean; summary: string };
  matmul: MatmulRow[];
  steps: StepRow[];
}

interface MatmulRow {
  n: number;
  dtype: "float32" | "float16";
  impl: string;
  ms?: number;
  gflops?: number;
  /** max |ours − jax-js| / max |jax-js| */
  diff?: number;
  note?: string;
}

interface StepRow {
  model: string;
  size: string;
  ms?: number;
  params?: number;
  note?: string;
}

/** Quick mode on a software adapter skips a model whose estimated step is longer than this. */
const SLOW_STEP_S = 60;
const STEP_MODELS = ["tiny", "internvl2-1b-2layer"];

/** A file-name-safe adapter label; software adapters are named as such. */
export function adapterSlug(name: string, software: boolean): string {
  if (software && /llvmpipe|lavapipe/i.test(name)) return "lavapipe-software";
  const s = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "")
    .slice(0, 48);
  return software ? `${s || "adapter"}-software` : s || "adapter";
}

function runParity(log: (s: string) => void): { ok: boolean; summary: string } {
  const t0 = performance.now();
  const r = spawnSync("npx", ["vitest", "run", "test/webgpu/parity.test.ts"], {
    cwd: ROOT,
    env: { ...process.env, ANCHORGRAD_REQUIRE_WEBGPU: "1", XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? "/tmp" },
    encoding: "utf8",
    timeout: 300_000,
  });
  // eslint-disable-next-line no-control-regex
  const out = `${r.stdout ?? ""}${r.stderr ?? ""}`.replace(/\x1b\[[0-9;]*m/g, "");
  const tests = out.match(/Tests\s+([^\n]+)/)?.[1]?.trim() ?? (r.error ? errorText(r.error) : "no summary line");
  const summary = `${tests} in ${((performance.now() - t0) / 1000).toFixed(0)} s`;
  const ok = r.status === 0;
  log(`parity suite (test/webgpu/parity.test.ts): ${ok ? "passed" : "FAILED"}: ${summary}`);
  if (!ok) log(out.split("\n").slice(-40).join("\n"));
  return { ok, summary };
}

/** Max |a − b| / max |b| over finite values. */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0,
    s = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    s = Math.max(s, Math.abs(b[i]!));
  }
  return d / Math.max(s, 1e-30);
}

async function matmulSweep(gpu: WebGPUBackend, sizes: number[], quick: boolean, log: (s: string) => void): Promise<MatmulRow[]> {
  const rows: MatmulRow[] = [];
  const plan = { iterations: quick ? 5 : 20, warmup: 1, budgetMs: quick ? 1500 : 4000 };
  const peer = jaxjsMatmul();
  const peerDown = await peer.init();
  if (peerDown) log(`jax-js webgpu: unavailable: ${peerDown}`);
  const software = isSoftwareAdapter(gpu.handle);
  for (const dtype of ["float32", "float16"] as const) {
    for (const n of sizes) {
      const flops = 2 * n ** 3;
      const row = (impl: string, ms: number | undefined, extra: Partial<MatmulRow> = {}): MatmulRow => {
        const r: MatmulRow = { n, dtype, impl, ms, gflops: ms === undefined ? undefined : flops / ms / 1e6, ...extra };
        log(
          `matmul ${n}³ ${dtype} ${impl}: ${ms === undefined ? (r.note ?? "-") : `${ms.toFixed(2)} ms, ${r.gflops!.toFixed(1)} GFLOP/s`}${r.diff !== undefined ? `, max rel diff vs jax-js ${r.diff.toExponential(1)}` : ""}`,
        );
        return r;
      };
      const hostA = data(n * n, 1),
        hostB = data(n * n, 2);
      // jax-js first, keeping its result as the reference for ours
      let reference: Float32Array | null = null;
      if (!peerDown) {
        try {
          const run = await peer.prepare(n, dtype, hostA, hostB);
          const t = await timeMedian(run.thunk, plan);
          reference = await run.result();
          rows.push(row("jax-js", t.ms));
        } catch (e) {
          rows.push(row("jax-js", undefined, { note: `failed: ${errorText(e)}` }));
        } finally {
          peer.release();
        }
      }
      const kernels: (MatmulKernel | "default")[] = dtype === "float32" ? ["direct", "tiled"] : ["default"];
      const picked = chooseMatmulKernel(software, dtype, n, n, n);
      for (const k of kernels) {
        const label = `anchorgrad ${k === "default" ? "tiled" : k}${k === "default" || k === picked ? " (default)" : ""}`;
        try {
          setMatmulKernel(k === "default" ? null : k);
          const a = ag.cast(ag.tensor(hostA, { shape: [n, n], device: "webgpu" }), dtype);
          const b = ag.cast(ag.tensor(hostB, { shape: [n, n], device: "webgpu" }), dtype);
          const t = await timeMedian(async () => {
            ag.matmul(a, b).dispose();
            await gpu.sync();
          }, plan);
          let diff: number | undefined;
          if (reference) {
            const c = ag.cast(ag.matmul(a, b), "float32");
            diff = relDiff(await c.data(), reference);
            c.dispose();
          }
          a.dispose();
          b.dispose();
          rows.push(row(label, t.ms, { diff }));
        } catch (e) {
          rows.push(row(label, undefined, { note: `failed: ${errorText(e)}` }));
        } finally {
          setMatmulKernel(null);
        }
      }
    }
  }
  return rows;
}

/** The shapes of one DPO step: B pairs of T tokens, the image's tokens after <s>. */
function stepShape(presetName: string): { B: number; T: number } {
  const config = ag.models.internvl.preset(presetName);
  const img = ag.models.internvl.tokensPerTile(config);
  return { B: presetName === "tiny" ? 2 : 1, T: Math.ceil((img + 32) / 16) * 16 };
}

/** Multiply-adds of one step, roughly: 6 · parameters touched per token · tokens (forward + backward), two sequences per pair. */
function stepFlops(presetName: string): { flops: number; params: number } {
  const config = ag.models.internvl.preset(presetName);
  const params = ag.models.internvl.parameterCount(config);
  const { B, T } = stepShape(presetName);
  const patches = (config.vision.imageSize / config.vision.patchSize) ** 2 + 1;
  const v = config.vision,
    t = config.text;
  const visionPerToken = v.numLayers * (4 * v.hiddenSize ** 2 + 2 * v.hiddenSize * v.intermediateSize);
  const kv = t.numKvHeads * t.headDim;
  const textPerToken =
    t.numLayers * (2 * t.hiddenSize ** 2 + 2 * t.hiddenSize * kv + 3 * t.hiddenSize * t.intermediateSize) + t.hiddenSize * t.vocabSize;
  return { flops: 2 * 3 * 2 * B * (patches * visionPerToken + T * textPerToken), params };
}

async function dpoStep(gpu: WebGPUBackend, presetName: string, quick: boolean): Promise<number> {
  const iv = ag.models.internvl;
  const config = iv.preset(presetName);
  const { B, T } = stepShape(presetName);
  const img = iv.tokensPerTile(config);
  const params = await ag.toBackend(iv.initParams(config, 0), "webgpu");
  const V = config.text.vocabSize;
  const ids = (seed: number) => {
    const out = new Int32Array(B * T);
    for (let b = 0; b < B; b++)
      for (let t = 0; t < T; t++) {
        const word = 1 + ((seed * 7919 + b * 131 + t * 17) % Math.min(V - 8, 30000));
        out[b * T + t] = t >= 1 && t <= img ? config.imageTokenId : word === config.imageTokenId ? word + 1 : word;
      }
    return ag.tensor(out, { shape: [B, T], dtype: "int32", device: "webgpu" });
  };
  const S = config.vision.imageSize;
  const pixels = ag.tensor(data(B * 3 * S * S, 5), { shape: [B, 3, S, S], device: "webgpu" });
  const chosen = ids(1),
    rejected = ids(2);
  const mask = ag.ones([B, T], { device: "webgpu" });
  const objective = ag.objectives.dpo({ beta: 0.1 });
  const logps = (p: unknown, x: ag.Tensor) =>
    ag.sequenceLogps(iv.forward(config, p as never, { inputIds: x, pixelValues: pixels }), x, mask);
  const { loss, ref } = pairLoss(logps, params, chosen, rejected, objective);
  const opt = adamw({ lr: 1e-4 });
  let state = { params: params as unknown, opt: opt.init(params) as unknown };
  const step = async () => {
    const [l, next] = ag.scope(() => {
      const [value, grads] = ag.valueAndGrad(loss)(state.params);
      const u = opt.update(grads as never, state.opt as never, state.params as never);
      return [value, { params: u.params as unknown, opt: u.state as unknown }] as const;
    });
    const live = new Set(ag.treeLeaves(next));
    for (const x of ag.treeLeaves(state)) if (x instanceof ag.Tensor && !live.has(x)) x.dispose();
    state = next;
    const v = (await l.data())[0]!; // the step's one readback
    l.dispose();
    if (!Number.isFinite(v)) throw new Error(`${presetName}: the DPO loss is ${v}`);
  };
  try {
    const t = await timeMedian(step, { iterations: quick ? 3 : 10, warmup: 1, budgetMs: quick ? 5000 : 30_000 });
    await gpu.sync();
    return t.ms;
  } finally {
    for (const x of ag.treeLeaves(state)) if (x instanceof ag.Tensor) x.dispose();
    for (const x of [pixels, chosen, rejected, mask, ref.c, ref.r]) x.dispose();
  }
}

function markdown(r: Omit<GpuBenchResult, "file" | "markdown">, info: Record<string, unknown>, quick: boolean, when: string): string {
  const label = r.software
    ? `${String(info.adapter)}: **lavapipe/llvmpipe, software Vulkan on the CPU, not a GPU**; figures measure correctness plumbing and relative cost, not GPU speed`
    : String(info.adapter);
  const fmt = (x: number | undefined, d = 2) => (x === undefined ? "" : x.toFixed(d));
  const lines = [
    `# WebGPU bench: ${r.software ? "lavapipe (software)" : String(info.adapter)}`,
    "",
    `Written by \`npm run bench:gpu${quick ? " -- --quick" : ""}\` (bench/gpu.ts) on ${when}.`,
    "",
    `Adapter: ${label}.`,
    "",
    "```json",
    JSON.stringify(info, null, 2),
    "```",
    "",
    `Parity suite (test/webgpu/parity.test.ts): ${r.parity ? `${r.parity.ok ? "passed" : "**FAILED**"}: ${r.parity.summary}` : "not run (--no-parity)"}`,
    "",
    "## matmul n³",
    "",
    "Median wall time of one product through a completed queue (no readback); GFLOP/s = 2n³ / time. `diff`: max |ours − jax-js| / max |jax-js|. float16: both operands and the result stored as float16; ours accumulates in float32.",
    "",
    "| n | dtype | implementation | ms | GFLOP/s | diff | note |",
    "|---|---|---|---|---|---|---|",
    ...r.matmul.map(
      (m) =>
        `| ${m.n} | ${m.dtype} | ${m.impl} | ${fmt(m.ms)} | ${fmt(m.gflops, 1)} | ${m.diff === undefined ? "" : m.diff.toExponential(1)} | ${m.note ?? ""} |`,
    ),
    "",
    "## DPO training step",
    "",
    "Forward of chosen and rejected, sequence log-probs, DPO (β 0.1), backward, AdamW, one readback of the loss; random weights; median ms.",
    "",
    "| model | shape | parameters | ms | note |",
    "|---|---|---|---|---|",
    ...r.steps.map((s) => `| ${s.model} | ${s.size} | ${s.params?.toLocaleString("en-US") ?? ""} | ${fmt(s.ms, 0)} | ${s.note ?? ""} |`),
    "",
  ];
  return lines.join("\n");
}

export async function runGpuBench(opts: GpuBenchOptions): Promise<GpuBenchResult> {
  const log = opts.log ?? ((s: string) => console.log(s));
  await ag.useBackend("webgpu");
  const gpu = await loadWebGPU();
  try {
    const software = isSoftwareAdapter(gpu.handle);
    const info = {
      adapter: gpu.handle.adapterName,
      ...gpu.handle.info,
      software,
      features: gpu.handle.features,
      limits: gpu.handle.limits,
    };
    log(`adapter: ${info.adapter}${software ? " (software Vulkan on the CPU, not a GPU)" : ""}`);
    log(`features: ${info.features.join(", ")}`);
    log(`limits: ${JSON.stringify(info.limits)}`);
    const parity = opts.parity === false ? undefined : runParity(log);
    const sizes = opts.quick ? [512, 1024] : [512, 1024, 2048, 4096, 8192];
    const matmul = await matmulSweep(gpu, sizes, opts.quick, log);
    // the best measured f32 rate of ours prices a step before running it
    const rate = Math.max(...matmul.filter((m) => m.dtype === "float32" && m.impl.startsWith("anchorgrad")).map((m) => m.gflops ?? 0));
    const steps: StepRow[] = [];
    for (const presetName of STEP_MODELS) {
      const { B, T } = stepShape(presetName);
      const { flops, params } = stepFlops(presetName);
      const size = `B=${B} pairs, T=${T}`;
      const estimateS = flops / (rate * 1e9);
      if (opts.quick && software && estimateS > SLOW_STEP_S) {
        const note = `skipped: quick mode on a software adapter, estimated ${(estimateS / 60).toFixed(0)} min a step (${(flops / 1e12).toFixed(2)} TFLOP at the measured ${rate.toFixed(1)} GFLOP/s) is over ${SLOW_STEP_S} s`;
        log(`DPO step ${presetName}: ${note}`);
        steps.push({ model: presetName, size, params, note });
        continue;
      }
      try {
        const ms = await dpoStep(gpu, presetName, opts.quick);
        log(`DPO step ${presetName} (${size}): ${ms.toFixed(0)} ms`);
        steps.push({ model: presetName, size, params, ms });
      } catch (e) {
        log(`DPO step ${presetName}: failed: ${errorText(e)}`);
        steps.push({ model: presetName, size, params, note: `failed: ${errorText(e)}` });
      }
    }
    const result = { software, parity, matmul, steps };
    const md = markdown(result, info, opts.quick, new Date().toISOString().slice(0, 10));
    const dir = opts.outDir ?? join(ROOT, "bench", "results");
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `gpu-${adapterSlug(String(info.adapter), software)}.md`);
    writeFileSync(file, md);
    log(`wrote ${file}`);
    return { ...result, file, markdown: md };
  } finally {
    await releaseBackend("webgpu");
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const outAt = args.indexOf("--out");
  const r = await runGpuBench({
    quick: args.includes("--quick"),
    parity: !args.includes("--no-parity"),
    outDir: outAt >= 0 ? args[outAt + 1] : undefined,
  });
  process.exit(r.parity && !r.parity.ok ? 1 : 0);
}

/**
 * anchorgrad's benchmark: kernels on cpu and webgpu next to jax-js (Wasm,
 * WebGPU), TensorFlow.js (Wasm) and PyTorch (OpenBLAS) in the same run, the
 * whole-model figures, a cost-growth fit, and the speed targets.
 *
 *   npm run bench            reduced sizes (several minutes: PyTorch runs once per configuration)
 *   npm run bench -- --full  every size
 *   npm run bench -- --only=softmax,attention   only these kernels (case kinds, as in cases.ts),
 *                            and the whole-model figures only if "models" is listed;
 *                            nothing written
 *   npm run bench -- --only=jit  jit against eager (and jax-js's jit) only; writes
 *                            bench/results/jit.json and jit.md, not latest.*
 *   npm run bench -- --torch-config="1 thread"  only these PyTorch configurations (names as in
 *                            peers/torch.ts, comma-separated); nothing written
 *
 * Writes bench/results/latest.json and latest.md. Exit status 1 when a
 * target fails (a SKIP, for a backend that is not here, does not fail).
 */
import { availableParallelism, cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { iterationsFor, kernelCases, type Case } from "./cases.js";
import { timeMedian } from "./harness.js";
import { errorText, type Impl } from "./impl.js";
import { jitRows, jitTable, jitTargets, writeJitResults } from "./jit.js";
import { modelRows } from "./models.js";
import { anchorgrad } from "./peers/anchorgrad.js";
import { jaxjs } from "./peers/jaxjs.js";
import { tfjs } from "./peers/tfjs.js";
import { runTorch, torchConfigs } from "./peers/torch.js";
import { growthTable, kernelTable, modelTable, PEERS, render, versusTorchTable, writeResults, type Row, type Target } from "./report.js";
import { wasmRuntime } from "../src/backends/cpu/wasm/runtime.js";

const full = process.argv.includes("--full");
/** Case kinds to run (--only=a,b), or null for all. */
const only =
  process.argv
    .find((a) => a.startsWith("--only="))
    ?.slice("--only=".length)
    .split(",") ?? null;
/** PyTorch configurations to try (--torch-config=a,b), or null for all of them. */
const onlyTorch = process.argv.find((a) => a.startsWith("--torch-config="))?.slice("--torch-config=".length) ?? null;
/**
 * How the JS peers run here, each at its best under Node (checked 2026-12-04):
 * both have multi-threaded Wasm builds, but their thread pools are made of
 * the browser's Worker, which Node lacks (jax-js's pool; tfjs reports
 * WASM_HAS_MULTITHREAD_SUPPORT false under Node, tensorflow/tfjs#3830), so
 * both run single-threaded Wasm with SIMD. Forcing tfjs's flag on fails at
 * init (Node's Worker refuses its blob: worker script); tfjs's plain-JS
 * "cpu" backend was 15–25x slower than its Wasm one on matmul 512³,
 * softmax 256×8192 and a 1024×4096 layer norm.
 */
const JS_PEER_CONFIGS = { "jax-js": "wasm (SIMD), 1 thread", tfjs: "wasm (XNNPACK, SIMD), 1 thread" } as const;
const started = performance.now();
const log = (s: string) => console.log(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${s}`);

/**
 * The cases each backend runs; on webgpu the quick run keeps to the targets'
 * kernels (or the --only ones), and to attention at T ≤ 256.
 */
function casesFor(backend: "cpu" | "webgpu", all: readonly Case[]): Case[] {
  if (backend === "cpu" || full) return [...all];
  return all.filter((c) =>
    c.spec.kind === "attention" ? c.spec.T <= 256 : only !== null || c.spec.kind === "matmul" || c.spec.kind === "softmax",
  );
}

async function measure(impl: Impl, reason: string | null, c: Case): Promise<Row> {
  const row: Row = { kernel: c.kernel, size: c.size, backend: impl.backend, impl: impl.impl, ratio_vs: {} };
  if (reason) return { ...row, unavailable: reason };
  try {
    const thunk = await impl.prepare(c);
    if (typeof thunk === "string") return { ...row, unavailable: thunk };
    const t = await timeMedian(thunk, iterationsFor(c, full));
    return { ...row, ms: t.ms, ...(c.flops !== undefined && { gflops: c.flops / t.ms / 1e6 }) };
  } catch (e) {
    return { ...row, unavailable: errorText(e) };
  } finally {
    impl.release();
  }
}

async function main(): Promise<void> {
  const cases = kernelCases(full).filter((c) => !only || only.includes(c.spec.kind));
  const rows: Row[] = [];
  const threads = wasmRuntime().threads.threads;
  log(`anchorgrad bench (${full ? "full" : "reduced"} sizes), ${threads} cpu threads for the GEMM`);
  for (const backend of ["cpu", "webgpu"] as const) {
    const impls = backend === "cpu" ? [anchorgrad("cpu"), jaxjs("cpu"), tfjs()] : [anchorgrad("webgpu"), jaxjs("webgpu")];
    const reasons = new Map<Impl, string | null>();
    for (const impl of impls) {
      reasons.set(impl, await impl.init().catch(errorText));
      if (reasons.get(impl)) log(`${impl.impl} on ${backend}: unavailable: ${reasons.get(impl)}`);
    }
    for (const c of casesFor(backend, cases)) {
      for (const impl of impls) rows.push(await measure(impl, reasons.get(impl)!, c));
      log(
        `${backend} ${c.kernel} ${c.size}: ${rows
          .slice(-impls.length)
          .map((r) => `${r.impl} ${r.unavailable ? "n/a" : `${r.ms!.toFixed(2)} ms`}`)
          .join(", ")}`,
      );
    }
  }
  const configs = torchConfigs(threads, onlyTorch ?? undefined);
  log(`pytorch: one python process per configuration over the cpu cases (${configs.map((c) => c.name).join("; ")})`);
  const torch = runTorch(cases, (c) => iterationsFor(c, full), configs);
  cases.forEach((c, i) => {
    const r = torch.results.get(i);
    const base: Row = { kernel: c.kernel, size: c.size, backend: "cpu", impl: "pytorch", ratio_vs: {} };
    if (torch.unavailable || !r) rows.push({ ...base, unavailable: torch.unavailable ?? "no result" });
    else if ("error" in r) rows.push({ ...base, unavailable: r.error });
    else rows.push({ ...base, ms: r.ms, config: r.config, ...(c.flops !== undefined && { gflops: c.flops / r.ms / 1e6 }) });
  });
  for (const ours of rows.filter((r) => r.impl === "anchorgrad" && r.ms !== undefined)) {
    for (const p of PEERS) {
      const peer = rows.find((r) => r.impl === p && r.backend === ours.backend && r.kernel === ours.kernel && r.size === ours.size);
      if (peer?.ms !== undefined) ours.ratio_vs[p] = peer.ms / ours.ms!;
    }
  }
  const withModels = !only || only.includes("models");
  log(withModels ? "whole-model figures" : "whole-model figures skipped (--only)");
  const models = withModels ? await modelRows(full, configs, log) : [];
  const withJit = !only || only.includes("jit");
  const jit = withJit ? await jitRows(full, log) : [];

  const growth = [
    ...growthTable(rows, "matmul", (r) => parseInt(r.size, 10), "n"),
    ...growthTable(rows, "attention.fwd+bwd", (r) => Number(/T=(\d+)/.exec(r.size)![1]), "T"),
  ];
  const targets = checkTargets(rows, models);
  console.log("\n" + render(kernelTable(rows)));
  console.log("\n" + render(modelTable(models)));
  console.log("\nwhole model against PyTorch\n" + render(versusTorchTable(models)));
  console.log("\ncost growth (time ∝ size^exponent)\n" + render([["kernel", "backend", "series", "exponent"], ...growth]));
  if (withJit) console.log("\njit against eager (same run)\n" + render(jitTable(jit)));
  targets.push(...jitTargets(jit));
  console.log("\ntargets");
  for (const t of targets) console.log(`  ${t.pass === null ? "SKIP" : t.pass ? "PASS" : "FAIL"}  ${t.name}: ${t.detail}`);
  const meta = {
    date: new Date().toISOString(),
    mode: full ? "full" : "reduced",
    node: process.version,
    cpu: cpus()[0]?.model ?? "?",
    cores: availableParallelism(),
    gemm_threads: threads,
    torch: torch.version ?? torch.unavailable ?? "?",
    torch_configs: torch.tried,
    js_peer_configs: JS_PEER_CONFIGS,
    unavailable: [
      ...new Set(rows.filter((r) => r.unavailable && r.kernel === "matmul").map((r) => `${r.impl}/${r.backend}: ${r.unavailable}`)),
    ],
  };
  const dir = fileURLToPath(new URL("./results", import.meta.url));
  if (withJit) {
    const { date, mode, node, cpu, cores, gemm_threads } = meta;
    writeJitResults(dir, { date, mode, node, cpu, cores, gemm_threads }, jit);
    log(`wrote ${dir}/jit.json and jit.md`);
  }
  if (only || onlyTorch) return; // a partial run does not replace the results of a whole one
  writeResults(dir, meta, rows, models, growth, targets);
  log(`wrote ${dir}/latest.json and latest.md`);
  if (targets.some((t) => t.pass === false)) process.exitCode = 1;
}

function checkTargets(
  rows: readonly Row[],
  models: readonly { kernel: string; size: string; overhead?: number; unavailable?: string }[],
): Target[] {
  const ratio = (name: string, backend: "cpu" | "webgpu", kernel: string, size: string, peer: string, need: number): Target => {
    const ours = rows.find((r) => r.impl === "anchorgrad" && r.backend === backend && r.kernel === kernel && r.size === size);
    const theirs = rows.find((r) => r.impl === peer && r.backend === backend && r.kernel === kernel && r.size === size);
    if (!ours || !theirs || ours.ms === undefined || theirs.ms === undefined) {
      return { name, pass: null, detail: `not measured (${ours?.unavailable ?? theirs?.unavailable ?? "case not run"})` };
    }
    const r = theirs.ms / ours.ms;
    const show = (x: Row) => (x.gflops !== undefined ? `${x.gflops.toFixed(1)} GFLOP/s` : `${x.ms!.toFixed(1)} ms`);
    return { name, pass: r >= need, detail: `anchorgrad ${show(ours)}, ${peer} ${show(theirs)}: ${r.toFixed(2)}× (need ≥ ${need}×)` };
  };
  const targets = [
    ratio("cpu matmul 1024³ f32 ≥ 2× jax-js wasm", "cpu", "matmul", "1024³", "jax-js", 2),
    ratio("cpu attention fwd+bwd T=1024 ≥ 1.5× jax-js wasm", "cpu", "attention.fwd+bwd", "T=1024 8×64", "jax-js", 1.5),
    ratio("webgpu matmul 1024³ ≥ 2× jax-js webgpu", "webgpu", "matmul", "1024³", "jax-js", 2),
  ];
  for (const m of models.filter((x) => x.kernel === "autodiff.overhead")) {
    targets.push(
      m.overhead === undefined
        ? { name: `autodiff overhead ≤ 3× (${m.size})`, pass: null, detail: `not measured (${m.unavailable})` }
        : { name: `autodiff overhead ≤ 3× (${m.size})`, pass: m.overhead <= 3, detail: `${m.overhead.toFixed(2)}×` },
    );
  }
  return targets;
}

main().then(
  () => process.exit(),
  (e) => {
    console.error(e);
    process.exit(2);
  },
);

/**
 * ag.train on WebGPU against the CPU: the tiny InternVL, from one
 * checkpoint, 20 DPO steps and 20 ACPO steps on each backend. Every step's
 * loss agrees to 1e-3 relative and so do the final parameters (max |Δ| /
 * max |w|, per tensor and over all; the key biases, whose gradient is
 * rounding noise, to Adam's bound); the parameters must have moved by far
 * more than that, so the comparison sees the optimizer. A step reads the
 * GPU back once (its metrics), never tries a synchronous read, and after
 * warm-up allocates no GPU buffer; the reference log-probs and the data
 * live on the GPU.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { generateShapes } from "../../src/data/shapes.js";
import { readMpoMeta, type PreferenceRow } from "../../src/data/mpo.js";
import { describeWebGPU, gpu } from "./setup.js";

const iv = ag.models.internvl;
const STEPS = 20,
  LR = 2e-3;
const root = mkdtempSync(join(tmpdir(), "ag-train-parity-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const manifest = await generateShapes({ out: join(root, "data"), seed: 3, sftImages: 2, pairImages: 6, evalImages: 2, imageSize: 56 });
const rows: PreferenceRow[] = readMpoMeta(join(root, "data", manifest.pairsMeta)).rows.slice(0, 8);
const modelDir = join(root, "model");
await iv.createModel(modelDir, { preset: "tiny", layout: "original", seed: 5 });

const objectives = { dpo: () => ag.objectives.dpo({ beta: 0.1 }), acpo: () => ag.objectives.acpo({ beta: 0.1 }) };
type Name = keyof typeof objectives;

interface Run {
  losses: number[];
  initial: Map<string, Float32Array>;
  final: Map<string, Float32Array>;
  device: string;
  /** Each counter's growth between consecutive steps' ends (webgpu: tensor reads, the runtime's readbacks and buffer allocations). */
  perStep: Record<string, number[]>;
}

async function leafValues(tree: unknown): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const { path, leaf } of ag.optim.leavesWithPaths(tree)) out.set(path, Float32Array.from(await leaf.data()));
  return out;
}

/** Train `name` from the checkpoint on the current backend (the model is loaded there). */
async function trainOn(name: Name, counters: () => Record<string, number> = () => ({})): Promise<Run> {
  const model = await iv.load(modelDir);
  const device = model.params.language.embed.weight.device;
  const initial = await leafValues(model.params);
  const marks: Record<string, number>[] = [];
  const run = await ag.train({
    model: ag.training.internvlModel(model, { system: "" }),
    params: model.params,
    objective: objectives[name](),
    data: rows,
    optimizer: ag.optim.adamw({ lr: LR }),
    steps: STEPS,
    batchSize: 2,
    seed: 1,
    out: join(root, `${name}-${device}`),
    progress: false,
    handleSignals: false,
    onStep: () => marks.push(counters()),
  });
  const final = await leafValues(run.params);
  for (const t of [...ag.treeLeaves(run.params), ...ag.treeLeaves(model.params)]) t.dispose();
  ag.treeLeaves(run.optState.slots).forEach((t) => t.dispose());
  const perStep = Object.fromEntries(Object.keys(marks[0]!).map((k) => [k, marks.slice(1).map((m, i) => m[k]! - marks[i]![k]!)]));
  return { losses: run.history.map((r) => r.loss!), initial, final, device, perStep };
}

function maxAbs(xs: Float32Array): number {
  let m = 0;
  for (const x of xs) m = Math.max(m, Math.abs(x));
  return m;
}

/**
 * Attention's key bias has a gradient of exactly 0 in exact arithmetic (it
 * adds q·b to a whole row of scores, and softmax ignores that), so what
 * either backend computes for it is rounding noise, which Adam scales to
 * up to ±lr a step: those tensors are only held to that bound (noise).
 */
const NOISE_ONLY = /\.attn\.k\.bias$/;

/**
 * max |a − b| / max |b| (b: the reference's values) per tensor (the worst)
 * and over all tensors at once, the noise-only tensors aside; their max |a − b| as `noise`.
 */
function worstRelative(
  a: Map<string, Float32Array>,
  b: Map<string, Float32Array>,
): { worst: number; path: string; global: number; noise: number } {
  let worst = 0,
    path = "",
    delta = 0,
    scale = 0,
    noise = 0;
  for (const [k, ref] of b) {
    const got = a.get(k)!;
    let d = 0;
    for (let i = 0; i < ref.length; i++) d = Math.max(d, Math.abs(got[i]! - ref[i]!));
    if (NOISE_ONLY.test(k)) {
      noise = Math.max(noise, d);
      continue;
    }
    delta = Math.max(delta, d);
    scale = Math.max(scale, maxAbs(ref));
    const r = d / Math.max(maxAbs(ref), 1e-12);
    if (r > worst) [worst, path] = [r, k];
  }
  return { worst, path, global: delta / scale, noise };
}

describeWebGPU("ag.train on webgpu against cpu (tiny InternVL)", () => {
  for (const name of Object.keys(objectives) as Name[]) {
    it(`${STEPS} ${name} steps: losses and final parameters within 1e-3 relative, one readback per step`, async () => {
      await ag.useBackend("cpu");
      const cpu = await trainOn(name);
      await ag.useBackend("webgpu");
      let reads = 0,
        syncAttempts = 0;
      const read = gpu.read.bind(gpu),
        readSync = gpu.readSync.bind(gpu);
      gpu.read = (...a) => (reads++, read(...a));
      gpu.readSync = (...a) => (syncAttempts++, readSync(...a));
      let web: Run;
      try {
        web = await trainOn(name, () => {
          const c = ag.memoryStats().webgpu!.gpu!; // the runtime's counters, through the public API
          return { reads, readbacks: c.readbacks, allocations: c.allocations, dispatches: c.dispatches };
        });
      } finally {
        gpu.read = read;
        gpu.readSync = readSync;
      }
      expect(web.device).toBe("webgpu");
      expect(cpu.device).toBe("cpu");
      expect(web.losses).toHaveLength(STEPS);
      const lossRel = Math.max(...web.losses.map((l, i) => Math.abs(l - cpu.losses[i]!) / Math.abs(cpu.losses[i]!)));
      const params = worstRelative(web.final, cpu.final);
      const moved = worstRelative(cpu.final, cpu.initial);
      console.log(
        `[parity] ${name}: max loss rel ${lossRel.toExponential(2)}, params max|Δ|/max|w| per tensor ${params.worst.toExponential(2)} (${params.path}), over all ${params.global.toExponential(2)}, key-bias noise ${params.noise.toExponential(2)}; moved ${moved.global.toExponential(2)}; per step after the first: ${Object.entries(
          web.perStep,
        )
          .map(([k, v]) => `${k} ${[...new Set(v)].join("/")}`)
          .join(", ")}`,
      );
      web.losses.forEach((l, i) =>
        expect(Math.abs(l - cpu.losses[i]!) / Math.abs(cpu.losses[i]!), `step ${i + 1}: webgpu ${l}, cpu ${cpu.losses[i]}`).toBeLessThan(
          1e-3,
        ),
      );
      expect(params.worst, `final parameters, worst tensor ${params.path}`).toBeLessThan(1e-3);
      expect(params.global, "final parameters, all tensors").toBeLessThan(1e-3);
      expect(params.noise, "key biases (noise under Adam): at most lr a step each way").toBeLessThanOrEqual(2 * LR * STEPS);
      expect(moved.global, "the parameters moved").toBeGreaterThan(1e-2);
      expect(cpu.losses.at(-1)!).toBeLessThan(cpu.losses[0]!); // it trains
      const each = (n: number) => new Array(STEPS - 1).fill(n);
      expect(web.perStep.reads, "tensor reads per step").toEqual(each(1));
      expect(web.perStep.readbacks, "runtime readbacks per step").toEqual(each(1));
      expect(web.perStep.allocations!.slice(2), "new GPU buffers per step, after two steps of warm-up").toEqual(each(0).slice(2));
      expect(syncAttempts, "synchronous GPU reads tried").toBe(0);
    }, 600_000);
  }
});

/**
 * Sustained use on WebGPU (issue 12, item 3): the synchronous training loop
 * of the issue (no await inside), run for a number of kernel dispatches
 * ("ops"), printing RSS and ag.memoryStats() every `every` ops, then the RSS
 * slope after warm-up. Before the fixes it crashed (exit 139) after 26k-60k
 * ops with RSS growing 6-15 KB/op (a bind group per dispatch); then ~610-700
 * bytes/op at ~4,300 ops/s (lavapipe's unbounded submit queue, and a compute
 * pass per copy). On lavapipe now: 1,000,000 ops in 155-162 s (6,200-6,500
 * ops/s on a shared 2-core machine), RSS +5.8-6.7 MB after warm-up (slope
 * 6-15 bytes/op); see test/webgpu/sustained.test.ts for the causes.
 *
 *   npx tsx bench/webgpu-sustained.ts [--ops 1000000] [--every 5000] [--size 128]
 *
 * test/webgpu/sustained.test.ts runs `sustainedLoop` for 20,000 ops.
 */
import { pathToFileURL } from "node:url";
import * as ag from "../src/index.js";

export interface Sample {
  ops: number;
  step: number;
  rssBytes: number;
  webgpu: ag.DeviceMemory;
}

export interface SustainedOptions {
  ops: number;
  every: number;
  /** Rows of x and the square weight's side (the issue uses 64 × 128). */
  size?: number;
  onSample?: (s: Sample) => void;
}

const dispatches = (): number => ag.memoryStats().webgpu?.gpu?.dispatches ?? 0;

/**
 * Run the loop on the current webgpu backend until `ops` dispatches
 * were encoded; returns the samples and the final weight's first value
 * (read once, after the loop).
 */
export async function sustainedLoop(opts: SustainedOptions): Promise<{ samples: Sample[]; first: number; seconds: number }> {
  const n = opts.size ?? 128;
  const x = ag.randomNormal([Math.max(1, n / 2), n], { seed: 1, device: "webgpu" });
  let w = ag.randomNormal([n, n], { seed: 2, device: "webgpu" });
  const f = (w: ag.Tensor) => ag.mean(ag.softplus(ag.neg(ag.matmul(ag.tanh(ag.matmul(x, w)), w))));
  const samples: Sample[] = [];
  const start = dispatches();
  const t0 = performance.now();
  let next = 0;
  for (let step = 0; ; step++) {
    const ops = dispatches() - start;
    if (ops >= next) {
      const s = { ops, step, rssBytes: process.memoryUsage().rss, webgpu: ag.memoryStats().webgpu! };
      samples.push(s);
      opts.onSample?.(s);
      next += opts.every;
    }
    if (ops >= opts.ops) break;
    const updated = ag.scope(() => {
      const [, g] = ag.valueAndGrad(f)(w);
      return ag.sub(w, ag.mul(g, 0.01));
    });
    w.dispose(); // no await anywhere in the loop
    w = updated;
  }
  const first = (await w.data())[0]!;
  const seconds = (performance.now() - t0) / 1000;
  w.dispose();
  x.dispose();
  return { samples, first, seconds };
}

/** Least-squares slope of RSS over ops, in bytes per op. */
export function rssSlope(samples: readonly Sample[]): number {
  const n = samples.length;
  if (n < 2) return 0;
  const mx = samples.reduce((a, s) => a + s.ops, 0) / n;
  const my = samples.reduce((a, s) => a + s.rssBytes, 0) / n;
  let num = 0,
    den = 0;
  for (const s of samples) {
    num += (s.ops - mx) * (s.rssBytes - my);
    den += (s.ops - mx) ** 2;
  }
  return num / den;
}

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

async function main(): Promise<void> {
  const ops = flag("ops", 1_000_000);
  const every = flag("every", 5000);
  await ag.useBackend("webgpu");
  const mb = (b: number) => (b / 2 ** 20).toFixed(1);
  const { samples, first, seconds } = await sustainedLoop({
    ops,
    every,
    size: flag("size", 128),
    onSample: (s) => {
      const { tensors, bytes, gpu } = s.webgpu;
      console.log(
        `ops ${s.ops} step ${s.step} rss ${mb(s.rssBytes)} MB | tensors ${tensors} bytes ${bytes} | ` +
          `gpu buffers ${gpu?.buffers} (${mb(gpu?.bufferBytes ?? 0)} MB, pool ${mb(gpu?.poolBytes ?? 0)} MB) ` +
          `allocations ${gpu?.allocations} bindGroupsCreated ${gpu?.bindGroupsCreated} readbacks ${gpu?.readbacks} submits ${gpu?.submits} throttle waits ${gpu?.throttleWaits} (${((gpu?.throttleMs ?? 0) / 1000).toFixed(1)} s)`,
      );
    },
  });
  const warm = samples.filter((s) => s.ops >= Math.min(20_000, ops / 5));
  const growth = warm.length ? warm.at(-1)!.rssBytes - warm[0]!.rssBytes : 0;
  console.log(
    `done: ${samples.at(-1)!.ops} ops in ${seconds.toFixed(1)} s (${(samples.at(-1)!.ops / seconds).toFixed(0)} ops/s, including the final drain), ` +
      `w[0] ${first.toFixed(6)}; after warm-up RSS grew ${mb(growth)} MB, slope ${rssSlope(warm).toFixed(0)} bytes/op; ` +
      `rss after the drain ${mb(process.memoryUsage().rss)} MB`,
  );
  await ag.releaseBackend("webgpu");
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();

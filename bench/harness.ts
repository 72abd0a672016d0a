/**
 * Timing: medians over a fixed number of runs after warmup, through
 * tinybench. Every implementation of a case is timed back to back in the
 * same process, so a ratio compares like with like on a shared machine.
 */
import { Bench } from "tinybench";

export interface Timing {
  /** Median wall time of one run, ms. */
  readonly ms: number;
  readonly runs: number;
}

/** A prepared run; async runs are awaited (GPU work is read back inside). */
export type Thunk = () => unknown;

export async function timeMedian(fn: Thunk, opts: { iterations: number; warmup: number }): Promise<Timing> {
  const bench = new Bench({ iterations: opts.iterations, time: 0, warmupIterations: opts.warmup, warmupTime: 0, throws: true });
  bench.add("case", async () => { await fn(); });
  await bench.run();
  const result = bench.tasks[0]!.result as { latency?: { p50: number; samplesCount?: number } } | undefined;
  if (!result?.latency) throw new Error("tinybench returned no latency statistics");
  return { ms: result.latency.p50, runs: opts.iterations };
}

/**
 * Timing: medians over a number of runs after warmup, through tinybench.
 * Every implementation of a case is timed back to back in the same process,
 * so a ratio compares like with like on a shared machine.
 */
import { Bench } from "tinybench";

export interface Timing {
  /** Median wall time of one run, ms. */
  readonly ms: number;
  readonly runs: number;
}

/** A prepared run; async runs are awaited (GPU work is read back inside). */
export type Thunk = () => unknown;

export interface Plan {
  iterations: number;
  warmup: number;
  /** Time allowed for the timed runs, ms: a slow implementation gets fewer runs (at least 3). */
  budgetMs?: number;
}

export async function timeMedian(fn: Thunk, plan: Plan): Promise<Timing> {
  // the first warmup run also sizes the run count to the budget
  const t0 = performance.now();
  await fn();
  const first = performance.now() - t0;
  const iterations =
    plan.budgetMs === undefined
      ? plan.iterations
      : Math.max(3, Math.min(plan.iterations, Math.floor(plan.budgetMs / Math.max(first, 1e-3))));
  const bench = new Bench({
    iterations,
    time: 0,
    warmupIterations: Math.max(0, plan.warmup - 1),
    warmupTime: 0,
    warmup: plan.warmup > 1,
    throws: true,
  });
  bench.add("case", async () => {
    await fn();
  });
  await bench.run();
  const result = bench.tasks[0]!.result as { latency?: { p50: number } } | undefined;
  if (!result?.latency) throw new Error("tinybench returned no latency statistics");
  return { ms: result.latency.p50, runs: iterations };
}

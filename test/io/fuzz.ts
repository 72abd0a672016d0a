/**
 * The fuzzers' harness: every case may fail only with one of the project's
 * own errors (an AnchorError), must finish within a time limit, and may not
 * raise the process's peak memory by more than a fixed allowance plus a
 * multiple of its input's size. The peak is the kernel's high-water mark of
 * resident memory (getrusage maxRSS), so an allocation that is freed again
 * within the case still counts, and nothing relies on when V8 collects.
 */
import fc from "fast-check";
import { AnchorError } from "../../src/tensor/errors.js";

/** Cases per fuzzer: 200 in `npm test`, 5,000 under `npm run test:full`. */
export const FUZZ_RUNS = process.env.ANCHORGRAD_FULL === "1" ? 5000 : 200;

export interface FuzzLimits {
  /** Wall-clock limit of one case. */
  caseMs: number;
  /** Peak-memory allowance of one case: `fixedBytes + perInputByte × inputBytes`. */
  fixedBytes: number;
  perInputByte: number;
}

/** Generous on a loaded 2-core machine, and far below the seconds-long runs of unbounded inputs. */
export const DEFAULT_LIMITS: FuzzLimits = { caseMs: 3000, fixedBytes: 96 << 20, perInputByte: 64 };

const peakRss = () => process.resourceUsage().maxRSS * 1024;

/**
 * Run `run` on `FUZZ_RUNS` inputs from `arb`. `size` gives an input's size
 * in bytes for the memory bound. The case's result is ignored; what it
 * throws must be an AnchorError.
 */
export async function fuzz<T>(
  arb: fc.Arbitrary<T>,
  size: (input: T) => number,
  run: (input: T) => unknown,
  limits: FuzzLimits = DEFAULT_LIMITS,
): Promise<void> {
  await fc.assert(
    fc.asyncProperty(arb, async (input) => {
      const before = peakRss(),
        start = performance.now();
      try {
        await run(input);
      } catch (e) {
        if (!(e instanceof AnchorError)) throw new Error(`not an AnchorError: ${e instanceof Error ? e.stack : String(e)}`);
      }
      const ms = performance.now() - start;
      if (ms > limits.caseMs) throw new Error(`the case took ${ms.toFixed(0)} ms, over the ${limits.caseMs} ms limit`);
      const grew = peakRss() - before,
        allowed = limits.fixedBytes + limits.perInputByte * size(input);
      if (grew > allowed) throw new Error(`peak memory grew by ${grew} bytes, over the ${allowed} allowed for this input`);
    }),
    { numRuns: FUZZ_RUNS, timeout: limits.caseMs },
  );
}

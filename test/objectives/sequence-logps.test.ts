/**
 * sequenceLogps: values against a direct batch-wide log-softmax, gradients
 * by finite differences, masking semantics, errors, and the memory bound
 * (no [B, T, V] temporaries; nothing per-position left on the tape).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { closeTo, runs } from "./cases.js";

interface Problem {
  B: number;
  T: number;
  V: number;
  seed: number;
  labels: number[];
  mask: number[];
  chunk: number;
}

const problemArb: fc.Arbitrary<Problem> = fc
  .record({ B: fc.integer({ min: 1, max: 3 }), T: fc.integer({ min: 1, max: 7 }), V: fc.integer({ min: 1, max: 6 }), seed: fc.nat() })
  .chain(({ B, T, V, seed }) =>
    fc.record({
      B: fc.constant(B),
      T: fc.constant(T),
      V: fc.constant(V),
      seed: fc.constant(seed),
      labels: fc.array(fc.integer({ min: 0, max: V - 1 }), { minLength: B * T, maxLength: B * T }),
      mask: fc.array(fc.constantFrom(0, 1), { minLength: B * T, maxLength: B * T }),
      chunk: fc.integer({ min: 1, max: Math.max(1, T) }),
    }),
  );

const inputs = (p: Problem, dtype: ag.DType = "float64") => ({
  logits: ag.randomNormal([p.B, p.T, p.V], { seed: p.seed, dtype, std: 3 }),
  labels: ag.tensor(p.labels, { shape: [p.B, p.T], dtype: "int32" }),
  mask: ag.tensor(p.mask, { shape: [p.B, p.T], dtype: "int32" }),
});

/** The straightforward form, on plain numbers: Σ_t m[b,t+1]·log softmax(x[b,t])[y[b,t+1]]. */
function reference(p: Problem, logits: ArrayLike<number>): { sum: number[]; count: number[] } {
  const sum = new Array<number>(p.B).fill(0),
    count = new Array<number>(p.B).fill(0);
  for (let b = 0; b < p.B; b++) {
    for (let t = 0; t + 1 < p.T; t++) {
      if (!p.mask[b * p.T + t + 1]) continue;
      const row = Array.from({ length: p.V }, (_, v) => logits[(b * p.T + t) * p.V + v]!);
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
      sum[b]! += row[p.labels[b * p.T + t + 1]!]! - lse;
      count[b]! += 1;
    }
  }
  return { sum, count };
}

describe("sequenceLogps", () => {
  it("sums the masked next-token log-probs (logits at t score the label at t+1), for any chunk size", () => {
    fc.assert(
      fc.property(problemArb, (p) => {
        ag.scope(() => {
          const { logits, labels, mask } = inputs(p);
          const out = ag.sequenceLogps(logits, labels, mask, { chunk: p.chunk });
          const ref = reference(p, logits.dataSync());
          expect(out.sum.shape).toEqual([p.B]);
          expect(closeTo(Array.from(out.sum.dataSync()), ref.sum, 1e-13, 1e-13)).toBeNull();
          expect(Array.from(out.count.dataSync())).toEqual(ref.count);
        });
      }),
      runs(60),
    );
  });

  it("gives an all-masked row sum 0 and count 0, and a one-token sequence zeros", () => {
    const logits = ag.randomNormal([2, 4, 5], { seed: 1, dtype: "float64" });
    const labels = ag.tensor(
      [
        [1, 2, 3, 4],
        [0, 1, 2, 3],
      ],
      { dtype: "int32" },
    );
    const out = ag.sequenceLogps(
      logits,
      labels,
      ag.tensor(
        [
          [0, 0, 0, 0],
          [1, 1, 1, 1],
        ],
        { dtype: "int32" },
      ),
    );
    expect(out.sum.dataSync()[0]).toBe(0);
    expect(Array.from(out.count.dataSync())).toEqual([0, 3]);
    const short = ag.sequenceLogps(ag.zeros([2, 1, 5]), ag.zeros([2, 1], { dtype: "int32" }), ag.ones([2, 1], { dtype: "bool" }));
    expect(Array.from(short.sum.dataSync())).toEqual([0, 0]);
    expect(Array.from(short.count.dataSync())).toEqual([0, 0]);
  });

  it("never reads labels at masked positions (an ignore index such as −100 is fine there)", () => {
    const logits = ag.randomNormal([1, 4, 5], { seed: 2, dtype: "float64" });
    const a = ag.sequenceLogps(logits, ag.tensor([[-100, -100, 3, 1]], { dtype: "int32" }), ag.tensor([[0, 0, 1, 1]], { dtype: "bool" }));
    const b = ag.sequenceLogps(logits, ag.tensor([[0, 0, 3, 1]], { dtype: "int32" }), ag.tensor([[0, 0, 1, 1]], { dtype: "bool" }));
    expect(a.sum.item()).toBe(b.sum.item());
  });

  it("has correct first and second derivatives with respect to the logits (checkGrads, float64)", () => {
    fc.assert(
      fc.property(problemArb, (p) => {
        ag.scope(() => {
          const { logits, labels, mask } = inputs(p);
          const w = ag.randomNormal([p.B], { seed: p.seed + 1, dtype: "float64" });
          const f = (x: ag.Tensor) => ag.sum(ag.mul(ag.sequenceLogps(x, labels, mask, { chunk: p.chunk }).sum, w));
          ag.checkGrads(f, [logits], { order: 2, atol: 1e-7, rtol: 1e-6 });
        });
      }),
      runs(15),
    );
  });

  it("works in float32 (sum and count in the logits' dtype)", () => {
    const p: Problem = {
      B: 2,
      T: 5,
      V: 4,
      seed: 3,
      labels: [0, 1, 2, 3, 0, 3, 2, 1, 0, 3],
      mask: [0, 1, 1, 1, 0, 0, 0, 1, 1, 1],
      chunk: 2,
    };
    const { logits, labels, mask } = inputs(p, "float32");
    const out = ag.sequenceLogps(logits, labels, mask);
    expect(out.sum.dtype).toBe("float32");
    expect(out.count.dtype).toBe("float32");
    expect(closeTo(Array.from(out.sum.dataSync()), reference(p, logits.dataSync()).sum, 1e-6, 1e-6)).toBeNull();
  });

  it("rejects bad input with the argument, shape or position", () => {
    const logits = ag.zeros([2, 3, 4]),
      labels = ag.zeros([2, 3], { dtype: "int32" }),
      mask = ag.ones([2, 3]);
    expect(() => ag.sequenceLogps(ag.zeros([2, 3]), labels, mask)).toThrow(/logits must be \[B, T, V\], got shape \[2, 3\]/);
    expect(() => ag.sequenceLogps(ag.zeros([2, 3, 4], { dtype: "int32" }), labels, mask)).toThrow(
      /logits must be a float tensor, got int32/,
    );
    expect(() => ag.sequenceLogps(logits, ag.zeros([2, 4], { dtype: "int32" }), mask)).toThrow(
      /labels must be \[B, T\] = \[2, 3\] to match logits \[2, 3, 4\], got \[2, 4\]/,
    );
    expect(() => ag.sequenceLogps(logits, ag.zeros([2, 3]), mask)).toThrow(/labels must be int32 token ids, got float32/);
    expect(() => ag.sequenceLogps(logits, labels, ag.ones([3, 3]))).toThrow(/mask must be \[B, T\]/);
    expect(() =>
      ag.sequenceLogps(
        logits,
        ag.tensor(
          [
            [0, 0, 0],
            [0, 7, 0],
          ],
          { dtype: "int32" },
        ),
        mask,
      ),
    ).toThrow(/labels\[1, 1\] = 7 is scored by the mask but outside the vocabulary \[0, 4\)/);
    expect(() => ag.sequenceLogps(logits, labels, mask, { chunk: 0 })).toThrow(/chunk must be a positive integer, got 0/);
    expect(() => ag.sequenceLogps(null as never, labels, mask)).toThrow(/logits must be a Tensor/);
  });

  it("holds no [B, T, V] temporary: forward under one [T, V] slice, nothing per-position on the tape", () => {
    const [B, T, V] = [4, 33, 3000];
    const slice = T * V * 4,
      full = B * slice;
    const backend = ag.currentBackend() as { run: (...args: unknown[]) => unknown };
    const liveBytes = () => ag.memoryStats().cpu!.bytes;
    /** Largest live-byte count seen at any kernel launch during fn, above the count before it. */
    const peakDuring = (fn: () => void): number => {
      const base = liveBytes(),
        run = backend.run;
      let peak = 0;
      backend.run = (...args) => {
        peak = Math.max(peak, liveBytes() - base);
        return run.apply(backend, args);
      };
      try {
        fn();
      } finally {
        backend.run = run;
      }
      return Math.max(peak, liveBytes() - base);
    };
    ag.scope(() => {
      const logits = ag.randomNormal([B, T, V], { seed: 5 });
      const labels = ag.tensor(
        Array.from({ length: B * T }, (_, i) => (i * 7919) % V),
        { shape: [B, T], dtype: "int32" },
      );
      const mask = ag.ones([B, T], { dtype: "bool" });
      let pullback: ((ct: ag.Tensor) => ag.Tensor) | undefined;
      const before = liveBytes();
      const forward = peakDuring(() => {
        [, pullback] = ag.vjp((x: ag.Tensor) => ag.sequenceLogps(x, labels, mask).sum, logits);
      });
      const taped = liveBytes() - before; // what the forward leaves alive for the backward
      const backward = peakDuring(() => {
        pullback!(ag.ones([B]));
      });
      // the batch-wide form that this function exists to avoid, for scale
      const naive = peakDuring(() => {
        ag.vjp((x: ag.Tensor) => ag.sum(ag.logSoftmax(x, -1), [2]), logits);
      });
      expect(forward, `forward peak ${forward} B vs one [T, V] slice ${slice} B`).toBeLessThanOrEqual(slice);
      expect(taped, `left alive after the forward: ${taped} B`).toBeLessThan(slice / 10);
      if (process.env.ANCHORGRAD_VERBOSE) console.log({ slice, full, forward, taped, backward, naive });
      expect(backward, `backward peak ${backward} B vs the gradient ${full} B`).toBeLessThanOrEqual(2 * full + slice);
      expect(naive).toBeGreaterThanOrEqual(full); // even fused, a batch-wide log-softmax holds a [B, T, V] output
    });
  });
});

/** Optimizers, schedules, clipping and masks: hand-computed steps and properties. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import {
  adamw,
  clipByGlobalNorm,
  freeze,
  globalNorm,
  leavesWithPaths,
  scheduleFromSpec,
  sgd,
  warmupConstant,
  warmupCosine,
  warmupLinear,
} from "../../src/optim/index.js";

const f64 = (v: number[]) => ag.tensor(v, { dtype: "float64" });
const vals = (t: ag.Tensor) => Array.from(t.dataSync());

describe("sgd", () => {
  it("plain step: p - lr·g", () => {
    const opt = sgd({ lr: 0.5 });
    const { params } = opt.update({ w: f64([2, 4]) }, opt.init({ w: f64([1, 1]) }), { w: f64([1, 1]) });
    expect(vals(params.w)).toEqual([0, -1]);
  });

  it("momentum: buffer starts as the first gradient, then μ·buf + g", () => {
    const opt = sgd({ lr: 1, momentum: 0.5 });
    let params = [f64([0])],
      state = opt.init(params);
    ({ params, state } = opt.update([f64([1])], state, params)); // buf 1 → p -1
    expect(vals(params[0]!)).toEqual([-1]);
    ({ params, state } = opt.update([f64([1])], state, params)); // buf 1.5 → p -2.5
    expect(vals(params[0]!)).toEqual([-2.5]);
    expect(state.step).toBe(2);
  });
});

describe("adamw", () => {
  it("first step moves each coordinate by lr·sign(g) (bias correction), after decoupled decay", () => {
    const lr = 0.1,
      wd = 0.5;
    const opt = adamw({ lr, weightDecay: wd, eps: 1e-12 });
    const p = f64([1, -2, 3]),
      g = f64([0.001, -50, 7]);
    const { params, state } = opt.update(g, opt.init(p), p);
    const want = [1, -2, 3].map((x, i) => x * (1 - lr * wd) - lr * Math.sign([0.001, -50, 7][i]!));
    vals(params).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 8)); // |g|/(|g|+eps) ≈ 1
    vals(state.slots.m![0]!).forEach((v, i) => expect(v).toBeCloseTo([0.001, -50, 7][i]! * 0.1, 12));
  });

  it("two hand-computed steps", () => {
    const lr = 0.01,
      b1 = 0.9,
      b2 = 0.999,
      eps = 1e-8;
    const opt = adamw({ lr, beta1: b1, beta2: b2, eps, weightDecay: 0 });
    let p = f64([1]),
      state = opt.init(p);
    ({ params: p, state } = opt.update(f64([2]), state, p));
    ({ params: p, state } = opt.update(f64([-1]), state, p));
    let m = 0,
      v = 0,
      x = 1;
    for (const [t, g] of [
      [1, 2],
      [2, -1],
    ] as const) {
      m = b1 * m + (1 - b1) * g;
      v = b2 * v + (1 - b2) * g * g;
      x -= (lr * (m / (1 - b1 ** t))) / (Math.sqrt(v / (1 - b2 ** t)) + eps);
    }
    expect(vals(p)[0]).toBeCloseTo(x, 12);
  });

  it("rejects bad hyperparameters by name", () => {
    expect(() => adamw({ lr: 1, beta1: 1 })).toThrow(/beta1/);
    expect(() => adamw({ lr: 1, eps: 0 })).toThrow(/eps/);
  });

  it("names the leaf whose gradient has the wrong shape", () => {
    const opt = adamw({ lr: 1 });
    const params = { a: { b: f64([1, 2]) } };
    expect(() => opt.update({ a: { b: f64([1]) } }, opt.init(params), params)).toThrow(/"a\.b".*\[1\].*\[2\]/);
  });
});

describe("masks", () => {
  const params = () => ({ vision: { w: f64([1, 2]), b: f64([3]) }, visionary: f64([4]), llm: [f64([5])] });

  it("paths follow treeFlatten order", () => {
    const p = params();
    expect(leavesWithPaths(p).map((l) => l.path)).toEqual(["llm.0", "vision.b", "vision.w", "visionary"]);
    expect(leavesWithPaths(p).map((l) => l.leaf)).toEqual(ag.treeLeaves(p));
  });

  it("frozen leaves are returned untouched and keep no state", () => {
    const opt = adamw({ lr: 0.1, mask: freeze("vision") });
    const p = params();
    const state = opt.init(p);
    expect(state.slots.m!.map((s) => s === null)).toEqual([false, true, true, false]);
    const grads = ag.treeMap((x: ag.Tensor) => ag.onesLike(x), p);
    const out = opt.update(grads as typeof p, state, p).params;
    expect(out.vision.w).toBe(p.vision.w);
    expect(out.vision.b).toBe(p.vision.b);
    expect(vals(out.visionary)[0]).not.toBe(4);
    expect(vals(out.llm[0]!)[0]).not.toBe(5);
  });
});

describe("schedules (Hugging Face shapes)", () => {
  it("warmupCosine: 0 at step 0, peak at the end of warmup, half at the midpoint, floor at the end", () => {
    const s = warmupCosine({ peak: 1, warmupSteps: 10, totalSteps: 110 });
    expect(s(0)).toBe(0);
    expect(s(5)).toBeCloseTo(0.5);
    expect(s(10)).toBeCloseTo(1);
    expect(s(60)).toBeCloseTo(0.5);
    expect(s(110)).toBeCloseTo(0);
    expect(warmupCosine({ peak: 2, totalSteps: 10, minRatio: 0.1 })(10)).toBeCloseTo(0.2);
  });

  it("linear and constant", () => {
    expect(warmupLinear({ peak: 1, warmupSteps: 0, totalSteps: 4 })(2)).toBeCloseTo(0.5);
    expect(warmupConstant({ peak: 3, warmupSteps: 3 })(1)).toBeCloseTo(1);
    expect(warmupConstant({ peak: 3, warmupSteps: 3 })(100)).toBe(3);
  });

  it("from a JSON spec with TRL's warmup ratio", () => {
    const s = scheduleFromSpec({ type: "cosine", peak: 1, warmupRatio: 0.03 }, 100);
    expect(s(2)).toBeCloseTo(2 / 3);
    expect(() => scheduleFromSpec({ type: "step" as "cosine", peak: 1 }, 10)).toThrow(/unknown type "step"/);
    expect(() => warmupCosine({ peak: 1, warmupSteps: 20, totalSteps: 10 })).toThrow(/warmupSteps/);
  });

  it("property: cosine decays monotonically after warmup and stays in [floor, peak]", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 500 }),
        fc.integer({ min: 0, max: 50 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (total, w0, minRatio) => {
          const warmupSteps = Math.min(w0, total);
          const s = warmupCosine({ peak: 1, warmupSteps, totalSteps: total, minRatio });
          for (let t = warmupSteps; t < total; t++) {
            expect(s(t + 1)).toBeLessThanOrEqual(s(t) + 1e-12);
            expect(s(t)).toBeGreaterThanOrEqual(minRatio - 1e-12);
            expect(s(t)).toBeLessThanOrEqual(1 + 1e-12);
          }
        },
      ),
      { numRuns: 30 },
    );
  });
});

describe("clipByGlobalNorm", () => {
  it("scales by maxNorm/(norm+1e-6) when over, leaves alone when under", () => {
    const g = { a: f64([3]), b: [f64([4])] };
    expect(globalNorm(g)).toBeCloseTo(5, 12);
    const { grads, norm } = clipByGlobalNorm(g, 1);
    expect(norm).toBeCloseTo(5, 12);
    expect(vals(grads.a)[0]).toBeCloseTo(3 / (5 + 1e-6), 12);
    expect(clipByGlobalNorm(g, 10).grads).toBe(g);
  });

  it("property: the clipped norm is min(norm, maxNorm) (up to the 1e-6 guard)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e3, max: 1e3, noNaN: true }), { minLength: 1, maxLength: 20 }),
        fc.double({ min: 1e-3, max: 1e3, noNaN: true }),
        (xs, maxNorm) => {
          const g = [f64(xs)];
          const { grads, norm } = clipByGlobalNorm(g, maxNorm);
          expect(globalNorm(grads)).toBeCloseTo(Math.min(norm, maxNorm), 4);
        },
      ),
      { numRuns: 40 },
    );
  });

  it("a NaN norm leaves the gradients as they are", () => {
    const g = [f64([NaN, 1])];
    const r = clipByGlobalNorm(g, 1);
    expect(r.norm).toBeNaN();
    expect(r.grads).toBe(g);
  });
});

describe("property: optimizers are pure", () => {
  it("update never mutates its inputs and is deterministic", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -10, max: 10, noNaN: true }), { minLength: 1, maxLength: 8 }),
        fc.constantFrom("sgd", "adamw"),
        (xs, kind) => {
          const opt = kind === "sgd" ? sgd({ lr: 0.1, momentum: 0.9 }) : adamw({ lr: 0.1 });
          const p = f64(xs),
            g = f64(xs.map((x) => x * 0.5 - 1));
          const s = opt.init(p);
          const a = opt.update(g, s, p),
            b = opt.update(g, s, p);
          expect(vals(p)).toEqual(xs);
          expect(s.step).toBe(0);
          expect(vals(a.params)).toEqual(vals(b.params));
        },
      ),
      { numRuns: 30 },
    );
  });
});

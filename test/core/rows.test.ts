/**
 * The fused row primitives (ops/rows.ts) beyond the op table: their float32
 * kernels against float64 at odd row lengths, on rows of ±1e4, rows far
 * from 0 and rows with -inf (the Wasm SIMD kernels in process; the JS loops
 * under ANCHORGRAD_WASM=0 in a child process); the semantics at the edges
 * (-inf and empty rows, length-1 axes, other and several axes); properties
 * by fast-check; and the errors.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { wasmRuntime } from "../../src/backends/cpu/wasm/runtime.js";
import { MIN_ELEMENTS } from "../../src/backends/cpu/wasm/elementwise.js";
import { normGrad, softmaxGrad } from "../../src/ops/rows.js";
import { expectClose } from "./close.js";
import { allRatios, LENGTHS, rowData } from "./rows-cases.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const SEED = Number(process.env.FC_SEED ?? 20261127);
const RUNS = process.env.ANCHORGRAD_FULL === "1" ? 300 : 40;

const f64 = (values: number[][]) => ag.tensor(values, { dtype: "float64" });
const values = (t: ag.Tensor) => Array.from(t.dataSync());

/** The export names of the rows.f32 kernel set that ran during `body`. */
function rowKernelsRun(body: () => void): Set<string> {
  const threads = wasmRuntime().threads;
  const names = ["lse_stats", "softmax", "softmax_grad", "layernorm", "rmsnorm", "norm_grad"];
  const byIndex = new Map(names.map((n) => [threads.kernel("rows.f32", n), n]));
  const seen = new Set<string>();
  const runUnits = threads.runUnits;
  threads.runUnits = (heap, units, parallel) => {
    for (const u of units) if (byIndex.has(u.kernel)) seen.add(byIndex.get(u.kernel)!);
    return runUnits.call(threads, heap, units, parallel);
  };
  try {
    body();
  } finally {
    threads.runUnits = runUnits;
  }
  return seen;
}

describe("fused row kernels in float32", () => {
  it("run large float32 rows on the Wasm kernels", () => {
    const seen = rowKernelsRun(() =>
      ag.scope(() => {
        const x = ag.randomNormal([64, 1023], { seed: 1 }),
          w = ag.ones([1023]);
        ag.logsumexp(x);
        ag.softmax(x);
        ag.logSoftmax(x);
        ag.layerNorm(x, w, w);
        ag.rmsNorm(x, w);
        softmaxGrad(ag.softmax(x), x);
        normGrad(x, x, { eps: 1e-5, center: true });
        normGrad(x, x, { eps: 1e-5, center: false });
      }),
    );
    expect([...seen].sort()).toEqual(["layernorm", "lse_stats", "norm_grad", "rmsnorm", "softmax", "softmax_grad"]);
  });

  it(`agree with float64 at row lengths ${LENGTHS.join(", ")} (Wasm SIMD kernels)`, () => {
    const bad = allRatios(MIN_ELEMENTS).filter((r) => !(r.ratio <= 1));
    expect(bad).toEqual([]);
  });

  it("agree with float64 on the JS loops (ANCHORGRAD_WASM=0, in a child process)", () => {
    const r = spawnSync(
      process.execPath,
      [join(root, "node_modules/tsx/dist/cli.mjs"), join(root, "test/core/fixtures/rows-float32.ts"), String(MIN_ELEMENTS)],
      { cwd: root, encoding: "utf8", timeout: 120_000, env: { ...process.env, ANCHORGRAD_WASM: "0" } },
    );
    expect(r.status, r.stderr).toBe(0);
    const ratios = JSON.parse(r.stdout.trim().split("\n").pop()!) as { label: string; ratio: number }[];
    expect(ratios.length).toBeGreaterThan(50);
    expect(ratios.filter((x) => !(x.ratio <= 1))).toEqual([]);
  });

  it("keep their stability past float32's exp range: rows of ±1e4 have finite logsumexp and softmax", () => {
    const x = ag.tensor(rowData("wide", 32, 1000, 5), { shape: [32, 1000] });
    const lse = values(ag.logsumexp(x)),
      max = values(ag.max(x, -1));
    lse.forEach((v, i) => expect(v - max[i]!).toBeGreaterThanOrEqual(0));
    lse.forEach((v, i) => expect(v - max[i]!).toBeLessThan(Math.log(1000) + 1e-3));
    const rowSums = values(ag.sum(ag.softmax(x), -1));
    rowSums.forEach((s) => expect(Math.abs(s - 1)).toBeLessThan(1e-5));
  });
});

describe("fused row ops at the edges", () => {
  it.each(["float64", "float32"] as const)("an all -inf row: logsumexp -inf with gradient 0, softmax and logSoftmax NaN (%s)", (dtype) => {
    for (const cols of [3, 20000]) {
      // the JS loops and, in float32, the Wasm kernels
      const data = [Array(cols).fill(-Infinity), Array.from({ length: cols }, (_, j) => (j % 5) - 2)];
      data[1]![1] = -Infinity;
      const x = ag.tensor(data, { dtype });
      const [lse, grad] = ag.valueAndGrad((t: ag.Tensor) => ag.sum(ag.mul(ag.logsumexp(t), ag.tensor([1, 1], { dtype }))))(x);
      expect(lse.dtype).toBe(dtype);
      expect(values(ag.logsumexp(x))[0]).toBe(-Infinity);
      const g = values(grad);
      expect(g.slice(0, cols).every((v) => v === 0)).toBe(true);
      expect(g[cols + 1]).toBe(0); // the -inf entry of the finite row
      expect(Math.abs(g.slice(cols).reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-5); // softmax of the finite row
      expect(values(ag.softmax(x)).slice(0, cols).every(Number.isNaN)).toBe(true);
      expect(values(ag.logSoftmax(x)).slice(0, cols).every(Number.isNaN)).toBe(true);
      expect(values(ag.softmax(x))[cols + 1]).toBe(0);
      expect(values(ag.logSoftmax(x))[cols + 1]).toBe(-Infinity);
    }
  });

  it("an empty axis: logsumexp -inf (log of an empty sum), softmax empty", () => {
    const x = ag.zeros([3, 0], { dtype: "float64" });
    expect(values(ag.logsumexp(x))).toEqual([-Infinity, -Infinity, -Infinity]);
    expect(ag.softmax(x).shape).toEqual([3, 0]);
    expect(ag.layerNorm(x).shape).toEqual([3, 0]);
  });

  it("a length-1 axis: softmax 1, logSoftmax 0, logsumexp x, layerNorm the bias, rmsNorm x/sqrt(x² + eps)·w", () => {
    const x = f64([[2], [-3]]),
      w = ag.tensor([1.5], { dtype: "float64" }),
      b = ag.tensor([0.25], { dtype: "float64" });
    expect(values(ag.softmax(x))).toEqual([1, 1]);
    expect(values(ag.logSoftmax(x))).toEqual([0, 0]);
    expect(values(ag.logsumexp(x))).toEqual([2, -3]);
    expect(values(ag.layerNorm(x, w, b))).toEqual([0.25, 0.25]);
    expectClose(ag.rmsNorm(x, w, 1e-6), f64([[(1.5 * 2) / Math.sqrt(4 + 1e-6)], [(-1.5 * 3) / Math.sqrt(9 + 1e-6)]]));
  });

  it("other axes move last: softmax along axis 0 and 1, logsumexp over several axes with keepdims", () => {
    const x = ag.randomNormal([3, 4, 5], { seed: 2, dtype: "float64" });
    const moved = (axis: number) =>
      ag.transpose(ag.softmax(ag.transpose(x, axis === 0 ? [1, 2, 0] : [0, 2, 1]), -1), axis === 0 ? [2, 0, 1] : [0, 2, 1]);
    expectClose(ag.softmax(x, 0), moved(0));
    expectClose(ag.softmax(x, -2), moved(1));
    const direct = ag.logsumexp(x, [0, 2], true);
    expect(direct.shape).toEqual([1, 4, 1]);
    const byHand = ag.log(ag.sum(ag.exp(x), [0, 2], true));
    expectClose(direct, byHand);
    expectClose(ag.logsumexp(x, [2, 0]), ag.reshape(byHand, [4]));
    expect(ag.logsumexp(ag.tensor(5, { dtype: "float64" }), []).item()).toBe(5);
  });
});

describe("fused row ops: properties (fast-check)", () => {
  const rowsArb = fc.record({
    lead: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
    cols: fc.oneof(fc.integer({ min: 1, max: 9 }), fc.constantFrom(1023, 4100)),
    scale: fc.constantFrom(1, 30, 1e4),
    dtype: fc.constantFrom("float64" as const, "float32" as const),
    seed: fc.nat(1000),
  });
  const draw = (c: { lead: number[]; cols: number; scale: number; dtype: "float32" | "float64"; seed: number }) =>
    ag.mul(ag.randomNormal([...c.lead, c.cols], { seed: c.seed, dtype: c.dtype }), c.scale);
  /** Loose enough for float32 at any of the drawn scales, tight for float64. */
  const tol = (dtype: string) => (dtype === "float32" ? 2e-5 : 1e-12);

  it("softmax rows sum to 1; logSoftmax = x − logsumexp; exp(logSoftmax) = softmax", () => {
    fc.assert(
      fc.property(rowsArb, (c) =>
        ag.scope(() => {
          const x = draw(c),
            t = tol(c.dtype);
          for (const s of values(ag.sum(ag.cast(ag.softmax(x), "float64"), -1))) expect(Math.abs(s - 1)).toBeLessThan(t * 10);
          expectClose(ag.cast(ag.logSoftmax(x), "float64"), ag.cast(ag.sub(x, ag.logsumexp(x, -1, true)), "float64"), {
            rtol: t,
            atol: t * c.scale,
          });
          expectClose(ag.cast(ag.exp(ag.logSoftmax(x)), "float64"), ag.cast(ag.softmax(x), "float64"), { rtol: t * c.scale, atol: t });
        }),
      ),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it("layerNorm rows have mean 0 and variance var/(var + eps); rmsNorm rows mean square ms/(ms + eps)", () => {
    fc.assert(
      fc.property(
        rowsArb.filter((c) => c.cols > 1),
        (c) =>
          ag.scope(() => {
            const x = ag.add(draw(c), c.scale),
              eps = 1e-3,
              t = tol(c.dtype);
            const x64 = ag.cast(x, "float64");
            const centered = ag.sub(x64, ag.mean(x64, -1, true)),
              v = ag.mean(ag.mul(centered, centered), -1);
            const y = ag.cast(ag.layerNorm(x, null, null, eps), "float64");
            for (const m of values(ag.mean(y, -1))) expect(Math.abs(m)).toBeLessThan(t * 10);
            expectClose(ag.mean(ag.mul(y, y), -1), ag.div(v, ag.add(v, eps)), { rtol: t * 10, atol: t * 10 });
            const ms = ag.mean(ag.mul(x64, x64), -1),
              r = ag.cast(ag.rmsNorm(x, null, eps), "float64");
            expectClose(ag.mean(ag.mul(r, r), -1), ag.div(ms, ag.add(ms, eps)), { rtol: t * 10, atol: t * 10 });
          }),
      ),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it("softmaxGrad is softmax's VJP", () => {
    fc.assert(
      fc.property(
        rowsArb.filter((c) => c.scale < 1e4),
        (c) =>
          ag.scope(() => {
            const x = draw(c),
              g = ag.randomNormal(x.shape, { seed: c.seed + 1, dtype: c.dtype });
            const [y, pullback] = ag.vjp((t: ag.Tensor) => ag.softmax(t), x);
            const t = tol(c.dtype);
            expectClose(ag.cast(softmaxGrad(y, g), "float64"), ag.cast(ag.mul(y, ag.sub(g, ag.sum(ag.mul(g, y), -1, true))), "float64"), {
              rtol: t * 10,
              atol: t,
            });
            expectClose(ag.cast(pullback(g), "float64"), ag.cast(softmaxGrad(y, g), "float64"), { rtol: 0, atol: 0 });
          }),
      ),
      { numRuns: RUNS, seed: SEED },
    );
  });
});

describe("fused row ops: errors name the op and the shapes", () => {
  it("rejects bad input", () => {
    const x = ag.zeros([2, 4]);
    expect(() => ag.layerNorm(x, ag.ones([3]))).toThrow(/layerNorm: weight \[3\] does not match the last axis of \[2, 4\]/);
    expect(() => ag.layerNorm(x, null, ag.ones([4, 1]))).toThrow(/layerNorm: bias \[4, 1\] does not match the last axis of \[2, 4\]/);
    expect(() => ag.layerNorm(x, ag.ones([4], { dtype: "float64" }))).toThrow(/layerNorm: weight is float64 but x is float32/);
    expect(() => ag.rmsNorm(x, ag.ones([5]))).toThrow(/rmsNorm: weight \[5\] does not match the last axis of \[2, 4\]/);
    expect(() => ag.softmax(ag.zeros([2], { dtype: "int32" }))).toThrow(/softmax: expected a float tensor, got int32/);
    expect(() => ag.logsumexp(ag.zeros([2], { dtype: "bool" }))).toThrow(/logsumexp: expected a float tensor, got bool/);
    expect(() => ag.layerNorm(ag.zeros([]))).toThrow(/layerNorm: expected at least one axis, got a scalar/);
    expect(() => ag.softmax(x, 2)).toThrow(/softmax: axis 2 is out of range for rank 2/);
    expect(() => ag.logsumexp(x, [1, -1])).toThrow(/logsumexp: repeated axis/);
    expect(() => softmaxGrad(x, ag.zeros([2, 3]))).toThrow(
      /softmaxGrad: cotangent \[2, 3\] float32 does not match the softmax output \[2, 4\] float32/,
    );
  });
});

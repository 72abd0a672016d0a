/**
 * Large float32 elementwise ops and row reductions, which run on the
 * threaded Wasm SIMD kernels, against the same ops computed in float64 and
 * rounded once: bit-identical for arithmetic, min/max, neg, abs, sqrt,
 * where and (almost always) sum; exp, log, log1p, tanh, sigmoid and erf
 * within one ulp (bit-identical on special values). Shapes cover every
 * broadcasting pattern the kernels collapse to (same shape, scalar, row and
 * column statistics, repeated blocks, leading batch axes) and rows that are
 * not multiples of the vector width.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { inWasmMemory } from "../../src/backends/cpu/wasm/heap.js";
import { UNARY, type UnaryName } from "../../src/prims/pointwise.js";

const TRANSCENDENTALS = ["exp", "log", "log1p", "tanh", "sigmoid", "erf"] as const;

const pairs: [number[], number[]][] = [
  [
    [64, 1027],
    [64, 1027],
  ],
  [
    [64, 1027],
    [64, 1],
  ],
  [[64, 1027], [1027]],
  [
    [8, 63, 101],
    [8, 1, 101],
  ],
  [[8, 63, 101], []],
  [[70001], [70001]],
  [
    [3, 5, 7, 401],
    [5, 1, 401],
  ],
  [[], [40, 1001]],
  [
    [40, 1, 1001],
    [1, 3, 1001],
  ],
];

/** The op in float64 on the same float32 inputs, rounded to float32. */
function float64Reference(op: (a: ag.Tensor, b: ag.Tensor) => ag.Tensor, a: ag.Tensor, b: ag.Tensor): Float32Array {
  return Float32Array.from(op(ag.cast(a, "float64"), ag.cast(b, "float64")).dataSync());
}

function sameBits(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], want[i])) throw new Error(`${what}: element ${i} is ${got[i]}, want ${want[i]}`);
  }
}

describe("float32 elementwise ops on the wasm kernels", () => {
  it("runs on buffers in the Wasm heap", () => {
    const x = ag.randomNormal([256, 256], { seed: 1 });
    expect(inWasmMemory(x.dataSync())).toBe(false); // reads are copies
    expect(inWasmMemory(ag.add(x, x)._buf as Float32Array)).toBe(true);
  });

  it.each(pairs)("binary ops on %j with %j match float64 rounded once, bit for bit", (sa, sb) => {
    const a = ag.randomNormal(sa, { seed: 2 }),
      b = ag.randomNormal(sb, { seed: 3 });
    for (const name of ["add", "sub", "mul", "div", "maximum", "minimum"] as const) {
      sameBits(ag[name](a, b).dataSync(), float64Reference(ag[name], a, b), name);
    }
    const cond = ag.greater(b, 0.2);
    sameBits(
      ag.where(cond, a, ag.neg(a)).dataSync(),
      float64Reference((x, y) => ag.where(cond, x, ag.neg(y)), a, a),
      "where(c, a, -a)",
    );
    sameBits(
      ag.where(cond, -Infinity, a).dataSync(),
      float64Reference((x) => ag.where(cond, -Infinity, x), a, a),
      "where(c, -inf, a)",
    );
  });

  it("NaN, infinities and signed zeros follow the op table", () => {
    const n = 1 << 15;
    const specials = [NaN, Infinity, -Infinity, 0, -0, 1, -1, 3.5e38, 1e-45];
    const a = ag.tensor(Float32Array.from({ length: n }, (_, i) => specials[i % specials.length]!));
    const b = ag.tensor(Float32Array.from({ length: n }, (_, i) => specials[(i * 7 + 3) % specials.length]!));
    for (const name of ["add", "sub", "mul", "div", "maximum", "minimum"] as const)
      sameBits(ag[name](a, b).dataSync(), float64Reference(ag[name], a, b), name);
    sameBits(
      ag.neg(a).dataSync(),
      Float32Array.from(a.dataSync(), (v) => -v),
      "neg",
    );
    sameBits(ag.abs(a).dataSync(), Float32Array.from(a.dataSync(), Math.abs), "abs");
    sameBits(ag.sqrt(a).dataSync(), Float32Array.from(a.dataSync(), Math.sqrt), "sqrt");
    sameBits(ag.exp(a).dataSync(), Float32Array.from(a.dataSync(), Math.exp), "exp");
  });

  /** Each transcendental's domain, wide enough to reach both saturations and every method's pieces. */
  const transcendentals: [UnaryName, number, number][] = [
    ["exp", -110, 100],
    ["log", 0, 3e38],
    ["log", 0, 2],
    ["log1p", -1, 4],
    ["log1p", -1e-6, 1e-6],
    ["tanh", -12, 12],
    ["tanh", -1e-3, 1e-3],
    ["sigmoid", -110, 110],
    ["erf", -5, 5],
    ["erf", -1.2, 1.2],
  ];

  it.each(transcendentals)("%s is within one ulp of the JS kernel's float64 value rounded to float32 on [%d, %d]", (name, lo, hi) => {
    const js = UNARY.find((r) => r.name === name)!.js;
    const op = ag[name] as (x: ag.Tensor) => ag.Tensor;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1 << 30 }), (seed) => {
        const x = ag.add(ag.mul(ag.randomUniform([40_001], { seed }), hi - lo), lo);
        const xs = x.dataSync(),
          got = op(x).dataSync();
        for (let i = 0; i < xs.length; i++) {
          const want = Math.fround(js(xs[i]!));
          if (Object.is(got[i], want)) continue;
          const ulp = Math.max(Math.abs(want) * 2 ** -23, 2 ** -149);
          if (!(Math.abs(got[i]! - want) <= ulp)) throw new Error(`${name}(${xs[i]}) = ${got[i]}, the JS kernel gives ${want}`);
        }
      }),
      { numRuns: 3 },
    );
  });

  it("transcendentals give the JS kernels' values on special inputs, bit for bit", () => {
    const specials = [
      NaN,
      Infinity,
      -Infinity,
      0,
      -0,
      1,
      -1,
      1e-45,
      -1e-45,
      1.1754944e-38,
      3.4e38,
      -3.4e38,
      88.8,
      -103.9,
      -150,
      4,
      -4,
      2 ** -12,
    ];
    const a = ag.tensor(Float32Array.from({ length: 1 << 12 }, (_, i) => specials[i % specials.length]!));
    for (const name of TRANSCENDENTALS) {
      const js = UNARY.find((r) => r.name === name)!.js;
      sameBits((ag[name] as (x: ag.Tensor) => ag.Tensor)(a).dataSync(), Float32Array.from(a.dataSync(), js), name);
    }
  });

  it("row sum and max match float64 sums rounded once and exact maxima (odd row lengths, NaN rows)", () => {
    for (const shape of [
      [300, 1001],
      [7, 40_003],
      [70_000, 3],
    ]) {
      const x = ag.mul(ag.randomNormal(shape, { seed: 4 }), 100);
      sameBits(ag.sum(x, -1).dataSync(), Float32Array.from(ag.sum(ag.cast(x, "float64"), -1).dataSync()), `sum ${shape}`);
      sameBits(ag.max(x, -1).dataSync(), Float32Array.from(ag.max(ag.cast(x, "float64"), -1).dataSync()), `max ${shape}`);
    }
    const withNaN = ag.where(ag.equal(ag.reshape(ag.arange(300 * 101), [300, 101]), 5 * 101 + 7), NaN, ag.ones([300, 101]));
    const m = ag.max(withNaN, -1).dataSync();
    expect(Number.isNaN(m[5]!)).toBe(true);
    expect(m[4]).toBe(1);
  });

  it("sums over leading axes (column sums) match float64 sums in row order, rounded once, bit for bit", () => {
    // odd widths, a single column, bands past one thread's scratch (150k columns), and parallel bands
    for (const [shape, axes] of [
      [
        [2, 65, 33],
        [0, 1],
      ],
      [[1024, 1], [0]],
      [[3, 150_001], [0]],
      [
        [4, 64, 1025],
        [0, 1],
      ],
      [[600, 301], [0]],
    ] as const) {
      const x = ag.mul(ag.randomNormal([...shape], { seed: 6 }), 100);
      const want = Float32Array.from(ag.sum(ag.cast(x, "float64"), [...axes]).dataSync());
      sameBits(ag.sum(x, [...axes]).dataSync(), want, `sum over ${axes} of [${shape}]`);
    }
  });

  it("sums over a middle block of axes (slabs of column sums) equal the same sums taken as row sums, bit for bit", () => {
    // grouped heads' gradient, two middle axes, bands past one thread's scratch, a small (JS) case; float32 and float64
    for (const [shape, axes] of [
      [[8, 2, 3, 64, 64], [2]],
      [
        [4, 5, 6, 70],
        [1, 2],
      ],
      [[2, 3, 150_001], [1]],
      [[3, 7, 2, 1], [1]],
    ] as const) {
      for (const dtype of ["float32", "float64"] as const) {
        const x = ag.cast(ag.mul(ag.randomNormal([...shape], { seed: 7 }), 100), dtype);
        const kept = shape.map((_, i) => i).filter((i) => !(axes as readonly number[]).includes(i));
        const last = ag.transpose(x, [...kept, ...axes]);
        const want = ag.sum(
          last,
          axes.map((_, i) => kept.length + i),
        );
        sameBits(ag.sum(x, [...axes]).dataSync(), want.dataSync(), `${dtype} sum over ${axes} of [${shape}]`);
      }
    }
  });

  it("softmax through the wasm kernels matches float64 to float32 accuracy", () => {
    // x − logsumexp(x) is rounded to float32 at |x| up to ~40: ~2e-6 absolute, so ~2e-6 relative after exp
    const x = ag.mul(ag.randomNormal([64, 3001], { seed: 5 }), 10);
    const got = ag.softmax(x, -1).dataSync(),
      want = ag.softmax(ag.cast(x, "float64"), -1).dataSync();
    for (let i = 0; i < got.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(1e-5 * want[i]! + 1e-37);
  });
});

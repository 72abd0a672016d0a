/**
 * Tensors: creation, 16-bit storage formats, the counter-based RNG, pytrees,
 * broadcasting, scopes and memory accounting, and debugNans.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { fromBFloat16Bits, fromFloat16Bits, toBFloat16Bits, toFloat16Bits } from "../../src/tensor/dtype.js";
import { philox } from "../../src/tensor/random.js";
import { broadcastable, buildTree, pytree, shape, type Shape } from "./arbitraries.js";

const NUM_RUNS = process.env.ANCHORGRAD_FULL === "1" ? 1000 : 100;
const SEED = Number(process.env.FC_SEED ?? 1234);
const property = <T>(arb: fc.Arbitrary<T>, body: (v: T) => void) =>
  fc.assert(
    fc.property(arb, (v) => ag.scope(() => body(v))),
    { numRuns: NUM_RUNS, seed: SEED, includeErrorInReport: true },
  );

describe("creation", () => {
  it("infers shape and dtype from numbers, nested arrays, booleans and typed arrays", () => {
    const cases: [ag.Tensor, number[], ag.DType, unknown][] = [
      [ag.tensor(3.5), [], "float32", 3.5],
      [
        ag.tensor([
          [1, 2, 3],
          [4, 5, 6],
        ]),
        [2, 3],
        "float32",
        [
          [1, 2, 3],
          [4, 5, 6],
        ],
      ],
      [ag.tensor([[[1]], [[2]]], { dtype: "int32" }), [2, 1, 1], "int32", [[[1]], [[2]]]],
      [ag.tensor([true, false]), [2], "bool", [1, 0]],
      [ag.tensor(new Float64Array([0.1, 0.2])), [2], "float64", [0.1, 0.2]],
      [ag.tensor(new Int32Array([7, -7])), [2], "int32", [7, -7]],
      [
        ag.tensor([1, 2, 3, 4, 5, 6], { shape: [3, 2], dtype: "float64" }),
        [3, 2],
        "float64",
        [
          [1, 2],
          [3, 4],
          [5, 6],
        ],
      ],
      [ag.tensor([]), [0], "float32", []],
      [ag.tensor([[], []]), [2, 0], "float32", [[], []]],
    ];
    for (const [t, s, dtype, values] of cases) {
      expect(t.shape).toEqual(s);
      expect(t.dtype).toBe(dtype);
      expect(t.arraySync()).toEqual(values);
    }
    expect(ag.tensor([0.1]).dataSync()[0]).toBe(Math.fround(0.1));
  });

  it("makes constants, ranges and like-tensors", () => {
    expect(ag.zeros([2, 2]).arraySync()).toEqual([
      [0, 0],
      [0, 0],
    ]);
    expect(ag.ones([3], { dtype: "int32" }).dataSync()).toEqual(new Int32Array([1, 1, 1]));
    expect(ag.full([], 2.5, { dtype: "float64" }).item()).toBe(2.5);
    expect(ag.full([2], 1, { dtype: "bool" }).dataSync()).toEqual(new Uint8Array([1, 1]));
    expect(ag.arange(4).dataSync()).toEqual(new Int32Array([0, 1, 2, 3]));
    expect(ag.arange(3, { dtype: "float64" }).dtype).toBe("float64");
    const x = ag.full([2, 3], 7, { dtype: "float64" });
    expect([ag.zerosLike(x).shape, ag.zerosLike(x).dtype, ag.onesLike(x).dataSync()[5]]).toEqual([[2, 3], "float64", 1]);
  });

  it("reads values back in every form", async () => {
    const t = ag.tensor(
      [
        [1, 2],
        [3, 4],
      ],
      { dtype: "float64" },
    );
    expect(await t.data()).toEqual(new Float64Array([1, 2, 3, 4]));
    expect(await t.array()).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(t.device).toBe("cpu");
    expect(String(t)).toBe("Tensor([2, 2], float64, cpu)");
    expect(() => t.item()).toThrow(/item\(\): tensor has shape \[2, 2\]/);
  });

  it("rejects ragged nested arrays, naming the depth", () => {
    expect(() => ag.tensor([[1, 2], [3]])).toThrow(/ragged nested array: expected length 2 at depth 1, got 1/);
    expect(() => ag.tensor([[1, 2], 3] as unknown as number[][])).toThrow(
      /ragged nested array: expected length 2 at depth 1, got a scalar/,
    );
    expect(() => ag.tensor([1, [2]] as unknown as number[])).toThrow(/ragged nested array \(too deep at depth 1\)/);
    expect(() => ag.tensor([1, "2"] as unknown as number[])).toThrow(ag.ShapeError);
    expect(() => ag.tensor([1, 2, 3], { shape: [2, 2] })).toThrow(/3 values do not fill shape \[2, 2\]/);
  });

  it("rejects bad shapes and dtypes with the op's name", () => {
    expect(() => ag.zeros([2, -1])).toThrow(/full: shape must be an array of non-negative integers/);
    expect(() => ag.ones([1.5])).toThrow(ag.ShapeError);
    expect(() => ag.arange(-2)).toThrow(/arange: n must be a non-negative integer/);
    expect(() => ag.full([1], 0, { dtype: "complex64" as ag.DType })).toThrow(/full: unknown dtype "complex64"/);
  });
});

// --- 16-bit floats ----------------------------------------------------------

interface HalfFormat {
  name: "float16" | "bfloat16";
  encode: (x: number) => number;
  decode: (bits: number) => number;
  /** Bits of the largest finite value and of +Inf. */
  maxBits: number;
  infBits: number;
}

const FORMATS: HalfFormat[] = [
  { name: "float16", encode: toFloat16Bits, decode: fromFloat16Bits, maxBits: 0x7bff, infBits: 0x7c00 },
  { name: "bfloat16", encode: toBFloat16Bits, decode: fromBFloat16Bits, maxBits: 0x7f7f, infBits: 0x7f80 },
];

/**
 * Reference rounding by search over the sorted non-negative finite values:
 * the nearer neighbour, ties to the even bit pattern, past max + ulp/2 to Inf.
 */
function referenceBits(f: HalfFormat, x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  const max = f.decode(f.maxBits),
    overflow = max + (max - f.decode(f.maxBits - 1)) / 2;
  if (a >= overflow) return sign | f.infBits; // the tie at `overflow` goes to Inf: max has an odd pattern
  let lo = 0,
    hi = f.maxBits; // invariant: decode(lo) <= a <= decode(hi)
  if (a >= max) return sign | f.maxBits;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (f.decode(mid) <= a) lo = mid;
    else hi = mid;
  }
  const dLo = a - f.decode(lo),
    dHi = f.decode(hi) - a;
  return sign | (dLo < dHi ? lo : dHi < dLo ? hi : lo % 2 === 0 ? lo : hi);
}

describe("float16 / bfloat16 storage", () => {
  const bits = (t: ag.Tensor) => Array.from(t.rawSync());

  it("rounds to hand-computed float16 bit patterns (ties to even, subnormals, overflow)", () => {
    const cases: [number, number][] = [
      [1, 0x3c00],
      [-2, 0xc000],
      [0.1, 0x2e66],
      [1 / 3, 0x3555],
      [-0, 0x8000],
      [0, 0x0000],
      [65504, 0x7bff],
      [65519.99, 0x7bff],
      [65520, 0x7c00],
      [1e6, 0x7c00],
      [-Infinity, 0xfc00],
      [Infinity, 0x7c00],
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000],
      [1.5 * 2 ** -25, 0x0001],
      [1023 * 2 ** -24, 0x03ff],
      [1023.5 * 2 ** -24, 0x0400],
      [2 ** -14, 0x0400],
      [1e-300, 0x0000],
      [-1e-300, 0x8000],
      [1 + 2 ** -11, 0x3c00],
      [1 + 3 * 2 ** -11, 0x3c02],
      // just above a tie: a double that float32 would first round onto the tie
      [1 + 2 ** -11 + 2 ** -40, 0x3c01],
      [1 + 3 * 2 ** -11 - 2 ** -40, 0x3c01],
    ];
    for (const [x, b] of cases) expect(toFloat16Bits(x), `float16(${x})`).toBe(b);
    expect(
      bits(
        ag.tensor(
          cases.map((c) => c[0]),
          { dtype: "float16" },
        ),
      ),
    ).toEqual(cases.map((c) => c[1]));
    const nan = toFloat16Bits(NaN);
    expect([nan & 0x7c00, nan & 0x3ff && 1]).toEqual([0x7c00, 1]);
  });

  it("rounds to hand-computed bfloat16 bit patterns", () => {
    const cases: [number, number][] = [
      [1, 0x3f80],
      [-2, 0xc000],
      [Math.PI, 0x4049],
      [3.140625, 0x4049],
      [-0, 0x8000],
      [1 + 2 ** -8, 0x3f80],
      [1 + 3 * 2 ** -8, 0x3f82],
      [1 + 2 ** -8 + 2 ** -30, 0x3f81],
      [(2 - 2 ** -7) * 2 ** 127, 0x7f7f],
      [(2 - 2 ** -8) * 2 ** 127, 0x7f80],
      [2 ** 128, 0x7f80],
      [-Infinity, 0xff80],
      [2 ** -133, 0x0001],
      [2 ** -134, 0x0000],
      [1.5 * 2 ** -134, 0x0001],
      [2 ** -126, 0x0080],
      [1e-300, 0x0000],
    ];
    for (const [x, b] of cases) expect(toBFloat16Bits(x), `bfloat16(${x})`).toBe(b);
    expect(
      bits(
        ag.tensor(
          cases.map((c) => c[0]),
          { dtype: "bfloat16" },
        ),
      ),
    ).toEqual(cases.map((c) => c[1]));
    expect(Number.isNaN(fromBFloat16Bits(toBFloat16Bits(NaN)))).toBe(true);
  });

  for (const f of FORMATS) {
    it(`${f.name}: every one of the 65536 bit patterns decodes and re-encodes to itself`, () => {
      const bad: string[] = [];
      for (let b = 0; b < 0x10000; b++) {
        const v = f.decode(b);
        if (Number.isNaN(v)) {
          if (!Number.isNaN(f.decode(f.encode(v)))) bad.push(`${b}: NaN`);
          continue;
        }
        if (f.encode(v) !== b) bad.push(`0x${b.toString(16)} -> ${v} -> 0x${f.encode(v).toString(16)}`);
      }
      expect(bad.slice(0, 5)).toEqual([]);
    });

    it(`${f.name}: any double rounds to the nearest pattern, ties to even (property vs a search reference)`, () => {
      const onPattern = fc.integer({ min: 0, max: f.maxBits }).map((b) => f.decode(b));
      const overflowTie = f.decode(f.maxBits) + (f.decode(f.maxBits) - f.decode(f.maxBits - 1)) / 2;
      const tie = fc.oneof(
        fc.integer({ min: 0, max: f.maxBits - 1 }).map((b) => (f.decode(b) + f.decode(b + 1)) / 2),
        fc.constant(overflowTie),
      );
      const nudge = fc
        .tuple(tie, fc.constantFrom(-1, 1), fc.integer({ min: 20, max: 45 }))
        .map(([t, s, k]) => t + s * Math.abs(t || 2 ** -140) * 2 ** -k);
      const x = fc.tuple(fc.oneof(fc.double({ noNaN: true }), onPattern, tie, nudge), fc.boolean()).map(([v, neg]) => (neg ? -v : v));
      fc.assert(
        fc.property(x, (v) => f.encode(v) === referenceBits(f, v)),
        { numRuns: NUM_RUNS * 20, seed: SEED },
      );
    });

    it(`${f.name}: tensors store bits, read back exact values, and cast exactly`, () => {
      const values = [0.5, -1.25, 3, 1e-5, 6e4, 2 ** -20];
      const t = ag.tensor(values, { dtype: f.name });
      const expected = values.map((v) => f.decode(f.encode(v)));
      expect(Array.from(t.dataSync())).toEqual(expected);
      expect(Array.from(ag.cast(t, "float64").dataSync())).toEqual(expected);
      expect(bits(ag.cast(ag.cast(t, "float32"), f.name))).toEqual(bits(t));
      // ops compute in float32 and round the result back
      expect(Array.from(ag.add(t, t).dataSync())).toEqual(expected.map((v) => f.decode(f.encode(2 * v))));
    });
  }
});

// --- random numbers -----------------------------------------------------------

/** Philox-4x32-10 on BigInt, as a reference for the 32x32-bit products. */
function philoxBig(seed: number, c0: number, c1: number): number[] {
  const M = 0xffffffffn;
  let k0 = BigInt(seed >>> 0),
    k1 = BigInt(Math.floor(seed / 2 ** 32) >>> 0);
  let x = [BigInt(c0), BigInt(c1), 0n, 0n];
  for (let r = 0; r < 10; r++) {
    const p0 = 0xd2511f53n * x[0]!,
      p1 = 0xcd9e8d57n * x[2]!;
    x = [((p1 >> 32n) ^ x[1]! ^ k0) & M, p1 & M, ((p0 >> 32n) ^ x[3]! ^ k1) & M, p0 & M];
    k0 = (k0 + 0x9e3779b9n) & M;
    k1 = (k1 + 0xbb67ae85n) & M;
  }
  return x.map(Number);
}

/** Kolmogorov-Smirnov statistic of a sample against a CDF. */
function ksStatistic(sample: ArrayLike<number>, cdf: (x: number) => number): number {
  const xs = Float64Array.from(sample).sort();
  let d = 0;
  xs.forEach((x, i) => {
    const c = cdf(x);
    d = Math.max(d, (i + 1) / xs.length - c, c - i / xs.length);
  });
  return d;
}

const normalCdf = (x: number) => 0.5 * (1 + erfRef(x / Math.SQRT2));
/** Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7), ample for a KS bound of 1e-2. */
function erfRef(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return Math.sign(x) * y;
}

describe("seeded counter-based RNG", () => {
  it("is Philox-4x32-10: Random123's known answer, and BigInt arithmetic for any seed and counter", () => {
    expect(philox(0, 0, 0)).toEqual([0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
    const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), u32, u32, (seed, c0, c1) => {
        expect(philox(seed, c0, c1)).toEqual(philoxBig(seed, c0, c1));
      }),
      { numRuns: NUM_RUNS, seed: SEED },
    );
  });

  it("gives the same numbers for the same seed, whatever the shape, and others for another seed", () => {
    const a = ag.randomNormal([4, 5], { seed: 42, dtype: "float64" }).dataSync();
    expect(ag.randomNormal([20], { seed: 42, dtype: "float64" }).dataSync()).toEqual(a);
    expect(ag.randomNormal([2, 2, 5], { seed: 42, dtype: "float64" }).dataSync()).toEqual(a);
    expect(ag.randomNormal([20], { seed: 43, dtype: "float64" }).dataSync()).not.toEqual(a);
    expect(Array.from(ag.randomNormal([20], { seed: 42 }).dataSync())).toEqual(Array.from(a, Math.fround));
    expect(ag.randomUniform([7], { seed: 2 ** 40 + 3, dtype: "float64" }).dataSync()).toEqual(
      ag.randomUniform([7], { seed: 2 ** 40 + 3, dtype: "float64" }).dataSync(),
    );
  });

  it("offset draws are the matching sub-range of one long draw", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.integer({ min: 0, max: 50 }),
        fc.integer({ min: 1, max: 30 }),
        (seed, offset, n) => {
          const draws: ((s: number[], o: ag.RandomOptions) => ag.Tensor)[] = [ag.randomNormal, ag.randomUniform];
          for (const draw of draws) {
            const long = draw([offset + n], { seed, dtype: "float64" }).dataSync();
            expect(draw([n], { seed, offset, dtype: "float64" }).dataSync()).toEqual(long.slice(offset));
          }
        },
      ),
      { numRuns: NUM_RUNS, seed: SEED },
    );
  });

  it("has the right distributions (moments and a Kolmogorov-Smirnov bound)", () => {
    const n = 20000,
      ksBound = 1.95 / Math.sqrt(n); // 0.1% level
    const z = Array.from(ag.randomNormal([n], { seed: 7, dtype: "float64" }).dataSync());
    const mean = z.reduce((s, v) => s + v, 0) / n,
      variance = z.reduce((s, v) => s + (v - mean) ** 2, 0) / n;
    expect(Math.abs(mean)).toBeLessThan(4 / Math.sqrt(n));
    expect(Math.abs(variance - 1)).toBeLessThan(4 * Math.sqrt(2 / n));
    expect(ksStatistic(z, normalCdf)).toBeLessThan(ksBound);
    const u = ag.randomUniform([n], { seed: 8, dtype: "float64" }).dataSync();
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(ksStatistic(u, (x) => Math.min(Math.max(x, 0), 1))).toBeLessThan(ksBound);
    const shifted = ag.randomNormal([n], { seed: 9, mean: 3, std: 0.5, dtype: "float64" }).dataSync();
    expect(ksStatistic(shifted, (x) => normalCdf((x - 3) / 0.5))).toBeLessThan(ksBound);
    const ranged = ag.randomUniform([n], { seed: 10, min: -2, max: 6, dtype: "float64" }).dataSync();
    expect(ksStatistic(ranged, (x) => Math.min(Math.max((x + 2) / 8, 0), 1))).toBeLessThan(ksBound);
  });

  it("folds in stream names deterministically, giving independent seeds", () => {
    expect(ag.foldIn(1, "dropout")).toBe(ag.foldIn(1, "dropout"));
    const seeds = new Set([ag.foldIn(1, "dropout"), ag.foldIn(1, "init"), ag.foldIn(2, "dropout"), ag.foldIn(1, 0), ag.foldIn(1, 1)]);
    expect(seeds.size).toBe(5);
    expect(() => ag.randomNormal([2], {} as ag.RandomOptions)).toThrow(/a numeric \{ seed \} is required/);
  });
});

// --- pytrees ------------------------------------------------------------------

describe("pytrees", () => {
  const leafOf = (s: { shape: readonly number[]; data: readonly number[] }) =>
    ag.tensor(s.data as number[], { shape: s.shape as number[], dtype: "float64" });

  it("flatten then unflatten rebuilds the same tree around the same tensors", () => {
    property(pytree(), (spec) => {
      const tree = buildTree(spec, leafOf);
      const { leaves, def } = ag.treeFlatten(tree);
      expect(ag.treeUnflatten(def, leaves)).toEqual(tree);
      ag.treeUnflatten<unknown[]>(def, leaves); // structure only
      ag.treeLeaves(ag.treeUnflatten(def, leaves)).forEach((l, i) => expect(l).toBe(leaves[i]));
    });
  });

  it("treeMap applies a function leafwise over matching trees and keeps the structure", () => {
    property(pytree(), (spec) => {
      const a = buildTree(spec, leafOf),
        b = buildTree(spec, leafOf);
      const mapped = ag.treeMap((x, y) => ag.add(x, ag.mul(y, 2)), a, b);
      expect(ag.treeFlatten(mapped).def).toEqual(ag.treeFlatten(a).def);
      ag.treeLeaves(mapped).forEach((m, i) => expect(m.dataSync()).toEqual(ag.mul(ag.treeLeaves(a)[i]!, 3).dataSync()));
    });
  });

  it("orders object leaves by sorted key, whatever the insertion order", () => {
    const [p, q] = [ag.ones([1]), ag.zeros([2])];
    expect(ag.treeLeaves({ z: p, a: [q] })).toEqual([q, p]);
    expect(ag.treeFlatten({ z: p, a: [q] }).def).toEqual(ag.treeFlatten({ a: [q], z: p }).def);
    expect(() => ag.treeUnflatten(ag.treeFlatten([p, q]).def, [p])).toThrow(/structure has 2 leaves, got 1/);
  });
});

// --- broadcasting -------------------------------------------------------------

/** NumPy broadcasting, written out directly: right-align, each dim equal or 1. */
function referenceBroadcast(a: Shape, b: Shape): number[] | null {
  const n = Math.max(a.length, b.length);
  const pa = [...Array(n - a.length).fill(1), ...a],
    pb = [...Array(n - b.length).fill(1), ...b];
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    if (pa[i] !== pb[i] && pa[i] !== 1 && pb[i] !== 1) return null;
    out.push(pa[i] === 1 ? pb[i]! : pa[i]!);
  }
  return out;
}

/** a + b by explicit index arithmetic over the output. */
function referenceAdd(a: Shape, av: ArrayLike<number>, b: Shape, bv: ArrayLike<number>, out: Shape): number[] {
  const size = out.reduce((p, d) => p * d, 1);
  const flatIndex = (s: Shape, idx: number[]) => s.reduce((acc, d, i) => acc * d + (d === 1 ? 0 : idx[idx.length - s.length + i]!), 0);
  return Array.from({ length: size }, (_, f) => {
    const idx = out.map(() => 0);
    for (let i = out.length - 1, r = f; i >= 0; i--) {
      idx[i] = r % out[i]!;
      r = Math.floor(r / out[i]!);
    }
    return av[flatIndex(a, idx)]! + bv[flatIndex(b, idx)]!;
  });
}

describe("broadcasting", () => {
  it("matches a direct implementation of NumPy's rules, values included", () => {
    property(fc.tuple(broadcastable(2, { maxRank: 4 }), fc.boolean()), ([[sa, sb], flip]) => {
      const [a, b] = flip ? [sb!, sa!] : [sa!, sb!];
      const x = ag.randomNormal(a, { seed: 1, dtype: "float64" }),
        y = ag.randomNormal(b, { seed: 2, dtype: "float64" });
      const out = referenceBroadcast(a, b)!;
      const sum = ag.add(x, y);
      expect(sum.shape).toEqual(out);
      expect(Array.from(sum.dataSync())).toEqual(referenceAdd(a, x.dataSync(), b, y.dataSync(), out));
    });
  });

  it("rejects incompatible shapes exactly when the reference does, naming both", () => {
    property(fc.tuple(shape({ maxRank: 3, maxDim: 3 }), shape({ maxRank: 3, maxDim: 3 })), ([a, b]) => {
      const expected = referenceBroadcast(a, b);
      const run = () => ag.mul(ag.zeros(a), ag.zeros(b)).shape;
      if (expected) expect(run()).toEqual(expected);
      else expect(run).toThrow(`mul: shapes [${a.join(", ")}] and [${b.join(", ")}] cannot be broadcast together`);
    });
  });
});

// --- scopes and memory ------------------------------------------------------

describe("scope, keep and memoryStats", () => {
  const live = () => ag.memoryStats().cpu ?? { tensors: 0, bytes: 0 };

  it("frees intermediates and keeps results (anywhere in a pytree) and kept tensors", () => {
    ag.scope(() => void ag.add(ag.ones([4]), 1)); // the implicit scalar 1 is made once and cached for the process
    const before = live();
    let inner!: ag.Tensor, kept!: ag.Tensor;
    const out = ag.scope(() => {
      inner = ag.exp(ag.ones([4]));
      kept = ag.keep(ag.zeros([2]));
      const r = ag.add(inner, 1);
      return { r, nested: [ag.ones([3], { dtype: "float64" })], note: "static" };
    });
    expect(inner.isDisposed).toBe(true);
    expect(kept.isDisposed).toBe(false);
    expect(out.r.isDisposed).toBe(false);
    expect(out.note).toBe("static");
    expect(out.nested[0]!.dataSync()).toEqual(new Float64Array([1, 1, 1]));
    expect(live().tensors - before.tensors).toBe(3); // r, nested[0], kept
    expect(live().bytes - before.bytes).toBe(4 * 4 + 3 * 8 + 2 * 4);
    for (const t of [out.r, out.nested[0]!, kept]) t.dispose();
    expect(live()).toEqual(before);
  });

  it("moves a nested scope's result to the enclosing scope, and frees on throw", () => {
    const before = live();
    let fromInner!: ag.Tensor;
    ag.scope(() => {
      fromInner = ag.scope(() => ag.ones([2]));
      expect(fromInner.isDisposed).toBe(false);
      return null;
    });
    expect(fromInner.isDisposed).toBe(true);
    // keep() takes a tensor out of every scope, not just the innermost
    let keptInner!: ag.Tensor;
    ag.scope(() =>
      ag.scope(() => {
        keptInner = ag.keep(ag.ones([2]));
        return null;
      }),
    );
    expect(keptInner.isDisposed).toBe(false);
    keptInner.dispose();
    let made!: ag.Tensor;
    expect(() =>
      ag.scope(() => {
        made = ag.ones([5]);
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(made.isDisposed).toBe(true);
    expect(live()).toEqual(before);
  });

  it("awaits an async function before freeing", async () => {
    ag.scope(() => void ag.mul(ag.ones([2]), 2)); // the cached scalar 2
    const before = live();
    let mid!: ag.Tensor;
    const r = await ag.scope(async () => {
      mid = ag.ones([2]);
      await new Promise((res) => setTimeout(res, 1));
      return ag.mul(mid, 2);
    });
    expect(mid.isDisposed).toBe(true);
    expect(Array.from(await r.data())).toEqual([2, 2]);
    r.dispose();
    expect(live()).toEqual(before);
  });

  it("keeps memoryStats flat over 1000 steps of forward + backward + update", () => {
    const x = ag.randomNormal([8, 4], { seed: 1, dtype: "float64" });
    const y = ag.randomNormal([8, 2], { seed: 2, dtype: "float64" });
    let params: { w: ag.Tensor; b: ag.Tensor[] } = {
      w: ag.randomNormal([4, 2], { seed: 3, dtype: "float64" }),
      b: [ag.zeros([2], { dtype: "float64" })],
    };
    const loss = (p: typeof params) => ag.mean(ag.softplus(ag.sub(ag.matmul(ag.tanh(x), p.w), ag.add(y, p.b[0]!))));
    const step = () => {
      const next = ag.scope(() => {
        const [, g] = ag.valueAndGrad(loss)(params);
        return ag.treeMap<typeof params>((p, gp) => ag.sub(p, ag.mul(gp, 0.1)), params, g);
      });
      ag.treeLeaves(params).forEach((t) => t.dispose());
      params = next;
    };
    const lossNow = () => ag.scope(() => loss(params).item());
    step();
    const first = lossNow();
    const start = live();
    for (let i = 0; i < 1000; i++) step();
    expect(live()).toEqual(start);
    expect(lossNow()).toBeLessThan(first); // and it did train
  });
});

// --- debugNans ----------------------------------------------------------------

describe("debugNans", () => {
  afterEach(() => ag.setDebugNans(false));

  it("is off by default: NaN flows through", () => {
    expect(Number.isNaN(ag.log(ag.tensor([-1])).item())).toBe(true);
  });

  it("throws at the first primitive that makes a NaN or Inf, naming it and its input shapes", () => {
    ag.setDebugNans(true);
    expect(() => ag.log(ag.tensor([[1, -1]]))).toThrow(
      /debugNans: log produced NaN at flat index 1 of its output \[1, 2\]; input shapes \[1, 2\] float32/,
    );
    expect(() => ag.div(ag.ones([2, 1]), ag.zeros([3]))).toThrow(
      /debugNans: div produced Infinity at flat index 0 of its output \[2, 3\]; input shapes \[2, 1\] float32, \[3\] float32/,
    );
    // in a backward pass: d/dx sqrt(x) at 0 is 1/0
    expect(() => ag.grad((t: ag.Tensor) => ag.sum(ag.sqrt(t)))(ag.zeros([2], { dtype: "float64" }))).toThrow(
      /debugNans: div produced Infinity/,
    );
    expect(ag.exp(ag.ones([2])).dataSync()[0]).toBeCloseTo(Math.E, 5); // finite values pass
  });

  it("is switched on by ANCHORGRAD_DEBUG_NANS=1", () => {
    const index = fileURLToPath(new URL("../../src/index.ts", import.meta.url));
    const script = `import * as ag from ${JSON.stringify(index)}; try { ag.log(ag.tensor([0, -2])); console.log("no error"); } catch (e) { console.log(e.message); }`;
    const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      encoding: "utf8",
      env: { ...process.env, ANCHORGRAD_DEBUG_NANS: "1" },
    });
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/debugNans: log produced -Infinity at flat index 0 of its output \[2\]; input shapes \[2\] float32/);
  });
});

/**
 * The specialised elementwise kernels (one compiled loop per op and dtypes,
 * broadcasting by collapsed strides) against a naive multi-index reference,
 * bit for bit; and the buffer pool that feeds every cpu kernel.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { setBatchedGemm } from "../../src/backends/cpu/matmul.js";
import { BINARY } from "../../src/prims/index.js";

type Shape = number[];

/** Row-major flat index of `idx` in `shape` broadcast to a longer index. */
function flatIndex(shape: Shape, idx: number[]): number {
  let at = 0;
  const off = idx.length - shape.length;
  shape.forEach((d, i) => {
    at = at * d + (d === 1 ? 0 : idx[off + i]!);
  });
  return at;
}

function reference(
  shapes: Shape[],
  out: Shape,
  inputs: ArrayLike<number>[],
  fn: (...x: number[]) => number,
  round: (x: number) => number,
): number[] {
  const n = out.reduce((p, d) => p * d, 1),
    res: number[] = [];
  const idx = new Array<number>(out.length).fill(0);
  for (let i = 0; i < n; i++) {
    res.push(round(fn(...shapes.map((s, k) => inputs[k]![flatIndex(s, idx)]!))));
    for (let d = out.length - 1; d >= 0; d--) {
      if (++idx[d]! < out[d]!) break;
      idx[d] = 0;
    }
  }
  return res;
}

/** An output shape and two or three input shapes broadcast to it (size-1 axes, dropped leading axes). */
const broadcastGroup = (arity: number) =>
  fc
    .array(fc.constantFrom<number>(1, 2, 3, 5), { minLength: 0, maxLength: 4 })
    .chain((out) =>
      fc
        .tuple(
          ...Array.from({ length: arity }, () =>
            fc.tuple(fc.integer({ min: 0, max: out.length }), fc.array(fc.boolean(), { minLength: 4, maxLength: 4 })),
          ),
        )
        .map((specs) => ({ out, shapes: specs.map(([drop, ones]) => out.slice(drop).map((d, i) => (ones[i] ? 1 : d))) })),
    );

const values = (n: number, seed: number) => Array.from({ length: n }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) * 3);

describe("specialised elementwise kernels", () => {
  const ops = BINARY.filter((r) => !r.compare && r.name !== "pow").map((r) => r.name);

  it.each(["float32", "float64"] as const)("binary ops with any broadcasting match the naive loop bit for bit (%s)", (dtype) => {
    const round = dtype === "float32" ? Math.fround : (x: number) => x;
    fc.assert(
      fc.property(broadcastGroup(2), fc.constantFrom(...ops), fc.integer({ min: 1, max: 1000 }), ({ shapes }, op, seed) => {
        const data = shapes.map((s, k) =>
          values(
            s.reduce((p, d) => p * d, 1),
            seed + k,
          ).map(round),
        );
        const [a, b] = shapes.map((s, k) => ag.tensor(data[k]!, { shape: s, dtype }));
        const got = [...(ag as unknown as Record<string, (x: ag.Tensor, y: ag.Tensor) => ag.Tensor>)[op]!(a!, b!).dataSync()];
        const row = BINARY.find((r) => r.name === op)!;
        expect(got).toEqual(reference(shapes, broadcast(shapes), data, row.js, round));
      }),
      { numRuns: 60 },
    );
  });

  it("where (bool condition, three broadcast inputs) matches the naive loop", () => {
    fc.assert(
      fc.property(broadcastGroup(3), fc.integer({ min: 1, max: 1000 }), ({ shapes }, seed) => {
        const data = shapes.map((s, k) =>
          values(
            s.reduce((p, d) => p * d, 1),
            seed + k,
          ).map(Math.fround),
        );
        const cond = ag.greater(ag.tensor(data[0]!, { shape: shapes[0]! }), 0);
        const got = [...ag.where(cond, ag.tensor(data[1]!, { shape: shapes[1]! }), ag.tensor(data[2]!, { shape: shapes[2]! })).dataSync()];
        expect(got).toEqual(reference(shapes, broadcast(shapes), data, (c, x, y) => (c! > 0 ? x! : y!), Math.fround));
      }),
      { numRuns: 40 },
    );
  });

  it("unary ops keep NaN, ±Infinity and -0 semantics of the op table", () => {
    const x = ag.tensor([NaN, Infinity, -Infinity, -0, 0, 1.5, -2], { dtype: "float32" });
    expect([...ag.neg(x).dataSync()]).toEqual([NaN, -Infinity, Infinity, 0, -0, -1.5, 2]);
    expect([...ag.exp(x).dataSync()]).toEqual([NaN, Infinity, 0, 1, 1, Math.fround(Math.exp(1.5)), Math.fround(Math.exp(-2))]);
    expect([...ag.maximum(x, 0).dataSync()]).toEqual([NaN, Infinity, 0, 0, 0, 1.5, 0]);
  });
});

function broadcast(shapes: Shape[]): Shape {
  const r = Math.max(0, ...shapes.map((s) => s.length));
  return Array.from({ length: r }, (_, i) => Math.max(1, ...shapes.map((s) => s[s.length - r + i] ?? 1)));
}

describe("cpu buffer pool", () => {
  it("a reused buffer starts from zeros for kernels that accumulate, and live tensors are never handed out", () => {
    const n = 300;
    const a = ag.randomNormal([n, n], { seed: 1 }),
      b = ag.randomNormal([n, n], { seed: 2 });
    const kept = ag.mul(a, 3);
    const before = [...kept.dataSync()];
    const prev = setBatchedGemm(null); // the JS GEMM accumulates into its output once it has zeroed it
    try {
      for (let i = 0; i < 3; i++) {
        ag.scope(() => {
          ag.add(a, b);
          ag.mul(a, b);
        }); // released into the pool at scope exit
        const c = ag.matmul(a, b);
        const A = a.dataSync(),
          B = b.dataSync(),
          C = c.dataSync();
        for (const [r, col] of [
          [0, 0],
          [17, 299],
          [299, 5],
        ] as const) {
          let s = 0;
          for (let k = 0; k < n; k++) s += A[r * n + k]! * B[k * n + col]!;
          expect(C[r * n + col]).toBeCloseTo(s, 3);
        }
        c.dispose();
      }
    } finally {
      setBatchedGemm(prev);
    }
    expect([...kept.dataSync()]).toEqual(before);
  });
});

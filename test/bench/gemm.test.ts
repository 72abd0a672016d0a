/**
 * Every fast GEMM of the cpu backend (the WebAssembly SIMD GEMM, threaded,
 * and the native BLAS where one is found) against the blocked JS GEMM, on
 * random shapes: odd sizes, 1, primes, non-multiples of every tile size,
 * broadcast batches, the Wasm GEMM's tiled path for operands too big to stage
 * at once, and the same products through ag.matmul with its gradients.
 */
import { availableParallelism } from "node:os";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import type { BatchedGemm, MatmulPlan } from "../../src/backends/cpu/gemm-plan.js";
import { jsMatmul } from "../../src/backends/cpu/matmul.js";
import { gemmPaths, withGemm } from "./gemm-paths.js";
import { setStagingLimit, wasmMatmul } from "../../src/backends/cpu/wasm/gemm.js";
import { wasmRuntime } from "../../src/backends/cpu/wasm/runtime.js";

type Arr = Float32Array | Float64Array;
type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;

function filled(Ctor: Ctor, n: number, seed: number): Arr {
  const out = new Ctor(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 4;
  }
  return out;
}

/**
 * `gemm` and the JS GEMM on the same plan; every element must agree within the forward
 * error bound of a K-term dot product in the storage precision,
 * 2·γ_K·Σ|a||b| (γ_K = K·u / (1 − K·u)), doubled for the two summation orders.
 */
function agree(gemm: BatchedGemm, Ctor: Ctor, plan: MatmulPlan, nA = plan.batch, nB = plan.batch, seed = 1): void {
  const { M, K, N, batch, transposeA, transposeB } = plan;
  const A = filled(Ctor, nA * M * K, seed),
    B = filled(Ctor, nB * K * N, seed + 1);
  const got = new Ctor(batch * M * N),
    want = new Ctor(batch * M * N);
  gemm(A, B, got, plan);
  jsMatmul(A, B, want, plan);
  const u = Ctor === Float32Array ? 2 ** -24 : 2 ** -53;
  const gamma = (K * u) / (1 - K * u);
  for (let t = 0; t < batch; t++) {
    const ao = (plan.aIndex ? plan.aIndex[t]! : t) * M * K,
      bo = (plan.bIndex ? plan.bIndex[t]! : t) * K * N;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let mag = 0;
        for (let k = 0; k < K; k++) {
          const a = A[ao + (transposeA ? k * M + i : i * K + k)]!,
            b = B[bo + (transposeB ? j * K + k : k * N + j)]!;
          mag += Math.abs(a * b);
        }
        const at = t * M * N + i * N + j;
        const tol = 4 * gamma * mag + 4 * u * Math.abs(want[at]!);
        if (!(Math.abs(got[at]! - want[at]!) <= tol)) {
          throw new Error(`C[${t}][${i},${j}] of ${batch}x${M}x${K}x${N}: ${got[at]} vs js ${want[at]} (tol ${tol})`);
        }
      }
    }
  }
}

const plan = (
  M: number,
  K: number,
  N: number,
  batch = 1,
  aIndex: Int32Array | null = null,
  bIndex: Int32Array | null = null,
  transposeA = false,
  transposeB = false,
): MatmulPlan => ({ M, K, N, batch, aIndex, bIndex, transposeA, transposeB });
/** The same product with A, B or both stored transposed. */
const flagged = (p: MatmulPlan): MatmulPlan[] =>
  [
    [false, true],
    [true, false],
    [true, true],
  ].map(([transposeA, transposeB]) => ({ ...p, transposeA: transposeA!, transposeB: transposeB! }));

const dim = fc.oneof(fc.integer({ min: 1, max: 40 }), fc.constantFrom(1, 2, 3, 7, 13, 16, 17, 31, 33, 61, 97));

const PATHS = gemmPaths();

describe.each(PATHS)("$name GEMM against the blocked JS GEMM", ({ gemm }) => {
  it.each([
    ["float32", Float32Array],
    ["float64", Float64Array],
  ] as const)("agrees on random small shapes (%s)", (_name, Ctor) => {
    fc.assert(
      fc.property(
        dim,
        dim,
        dim,
        fc.integer({ min: 1, max: 3 }),
        fc.boolean(),
        fc.boolean(),
        fc.integer(),
        (M, K, N, batch, ta, tb, seed) => {
          agree(gemm, Ctor, plan(M, K, N, batch, null, null, ta, tb), batch, batch, seed);
        },
      ),
      { numRuns: 40 },
    );
  });

  it("agrees across tile and thread boundaries (sizes past KC, MC, NC; split over threads)", () => {
    for (const [M, K, N] of [
      [97, 300, 130],
      [1, 1000, 1],
      [257, 31, 1031],
      [191, 263, 67],
      [2, 700, 257],
    ] as const) {
      agree(gemm, Float32Array, plan(M, K, N));
    }
    agree(gemm, Float64Array, plan(131, 271, 523));
  });

  it("reads transposed operands in place across tile and thread boundaries", () => {
    for (const p of flagged(plan(97, 300, 130))) agree(gemm, Float32Array, p);
    for (const p of flagged(plan(257, 31, 1031))) agree(gemm, Float32Array, p);
    for (const p of flagged(plan(131, 271, 61))) agree(gemm, Float64Array, p);
  });

  it("agrees on broadcast batches (an operand shared by several batch entries)", () => {
    agree(gemm, Float32Array, plan(19, 23, 29, 6, Int32Array.from([0, 0, 1, 1, 2, 2]), Int32Array.from([0, 1, 2, 0, 1, 2])), 3, 3);
    agree(gemm, Float32Array, plan(64, 64, 64, 4, Int32Array.from([0, 0, 0, 0]), null), 1, 4);
  });

  it("handles empty dimensions: K = 0 gives zeros, M or N = 0 gives nothing", () => {
    const C = new Float32Array(6).fill(7);
    gemm(new Float32Array(0), new Float32Array(0), C, plan(2, 0, 3));
    expect([...C]).toEqual([0, 0, 0, 0, 0, 0]);
    expect(() => gemm(new Float32Array(0), new Float32Array(12), new Float32Array(0), plan(0, 4, 3))).not.toThrow();
  });
});

describe("wasm GEMM: staging and threads", () => {
  const gemm = wasmMatmul;
  afterEach(() => {
    setStagingLimit(256 << 20);
  });

  it("tiles over M, N and K when the operands do not fit the staging bound, accumulating K tiles", () => {
    setStagingLimit(48 * 1024);
    agree(gemm, Float32Array, plan(150, 170, 190));
    agree(gemm, Float32Array, plan(40, 3000, 9));
    agree(gemm, Float64Array, plan(3, 50, 2000, 2), 2, 2);
    for (const p of flagged(plan(150, 170, 190))) agree(gemm, Float32Array, p);
  });

  it("runs on more than one thread where the machine has more than one core", () => {
    if (availableParallelism() > 1 && !process.env.ANCHORGRAD_THREADS) expect(wasmRuntime().threads.threads).toBeGreaterThan(1);
    else expect(wasmRuntime().threads.threads).toBeGreaterThanOrEqual(1);
  });
});

describe.each(PATHS)("ag.matmul on the $name GEMM", ({ gemm }) => {
  /** The same product with the JS GEMM only. */
  const viaJs = (a: ag.Tensor, b: ag.Tensor) => withGemm(null, () => ag.matmul(a, b).dataSync());

  it.each([
    [
      [2, 1, 33, 47],
      [3, 47, 29],
    ],
    [
      [4, 37, 64],
      [64, 96],
    ], // weight shared by the batch: folded into one GEMM
    [[70], [70, 130]],
    [[5, 61, 70], [70]],
    [
      [1, 128, 128],
      [6, 128, 100],
    ],
  ])("batched and broadcast shapes %j @ %j match the JS GEMM", (sa, sb) => {
    const size = (s: number[]) => s.reduce((p, d) => p * d, 1);
    const a = ag.tensor(filled(Float32Array, size(sa), 3), { shape: sa }),
      b = ag.tensor(filled(Float32Array, size(sb), 4), { shape: sb });
    const got = withGemm(gemm, () => ag.matmul(a, b).dataSync()),
      want = viaJs(a, b);
    expect(got.length).toBe(want.length);
    // entries in [-2, 2]: Σ|a||b| <= 4K, and the two summation orders each err by at most γ_K of that
    const K = sa[sa.length - 1]!,
      tol = 2 * 1.01 * K * 2 ** -24 * 4 * K;
    for (let i = 0; i < got.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(tol);
  });

  it("gradients through ag.matmul pass checkGrads in float64 (orders 1 and 2) on this GEMM", () =>
    withGemm(gemm, () => {
      const a = ag.tensor(filled(Float64Array, 2 * 9 * 17, 5), { shape: [2, 9, 17], dtype: "float64" });
      const b = ag.tensor(filled(Float64Array, 17 * 31, 6), { shape: [17, 31], dtype: "float64" });
      const f = (x: ag.Tensor, y: ag.Tensor) => ag.sum(ag.tanh(ag.matmul(x, y)));
      ag.checkGrads(f, [a, b]);
      ag.checkGrads((x: ag.Tensor) => f(x, b), [a], { order: 2 });
      const c = ag.tensor(filled(Float64Array, 3 * 40 * 50, 7), { shape: [3, 40, 50], dtype: "float64" });
      const d = ag.tensor(filled(Float64Array, 3 * 50 * 20, 8), { shape: [3, 50, 20], dtype: "float64" });
      ag.checkGrads((x: ag.Tensor, y: ag.Tensor) => ag.sum(ag.mul(ag.matmul(x, y), ag.matmul(x, y))), [c, d]);
    }));
});

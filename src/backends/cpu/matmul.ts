/**
 * Batched matmul on the CPU: batch broadcasting around a GEMM that reads
 * either operand transposed in place (by strides). float32 and float64
 * products big enough to repay a call run on a native BLAS where the machine
 * has one (blas.ts; ANCHORGRAD_BLAS=off turns it off), else on the
 * WebAssembly SIMD GEMM (wasm/gemm.ts, threaded); small ones, and all of them
 * for ANCHORGRAD_WASM=0 without a BLAS, on the cache-blocked JS GEMM below.
 */
import type { BufferRef, OutSpec } from "../backend.js";
import type { StorageArray } from "../../tensor/dtype.js";
import { takeBuffer } from "./pool.js";
import { broadcastIndex } from "./strided.js";
import { matrixDims, sizeOf } from "../../tensor/shape.js";
import type { MatmulParams } from "../../prims/index.js";
import type { BatchedGemm, MatmulPlan } from "./gemm-plan.js";
import { wasmMatmul } from "./wasm/gemm.js";
import { wasmEnabled } from "./wasm/runtime.js";
import { blasGemm, blasStatus } from "./blas.js";

type Arr = Float32Array | Float64Array;

const KB = 128,
  NB = 512;

/** Where an operand's element (r, c) is: base + r·rs + c·cs. */
interface Strided {
  readonly base: number;
  readonly rs: number;
  readonly cs: number;
}

/** C[M,N] += A[M,K] · B[K,N]; C row-major from co, A and B strided. */
function gemmBlocked(A: Arr, a: Strided, B: Arr, b: Strided, C: Arr, co: number, M: number, K: number, N: number): void {
  for (let n0 = 0; n0 < N; n0 += NB) {
    const n1 = Math.min(N, n0 + NB);
    for (let k0 = 0; k0 < K; k0 += KB) {
      const k1 = Math.min(K, k0 + KB);
      for (let i = 0; i < M; i++) {
        const ci = co + i * N,
          ai = a.base + i * a.rs;
        for (let k = k0; k < k1; k++) {
          const av = A[ai + k * a.cs]!,
            bk = b.base + k * b.rs;
          for (let j = n0; j < n1; j++) C[ci + j] += av * B[bk + j * b.cs]!;
        }
      }
    }
  }
}

/** Strides of op(X) for a row-major matrix stored at `base` with rows of `ld` elements. */
const operand = (base: number, ld: number, transposed: boolean): Strided =>
  transposed ? { base, rs: 1, cs: ld } : { base, rs: ld, cs: 1 };

/** The plan on the JS GEMM, one batch entry at a time. */
export const jsMatmul: BatchedGemm = (A, B, C, { M, K, N, batch, aIndex, bIndex, transposeA, transposeB }) => {
  C.fill(0);
  for (let t = 0; t < batch; t++) {
    const a = operand((aIndex ? aIndex[t]! : t) * M * K, transposeA ? M : K, transposeA);
    const b = operand((bIndex ? bIndex[t]! : t) * K * N, transposeB ? K : N, transposeB);
    gemmBlocked(A, a, B, b, C, t * M * N, M, K, N);
  }
};

/**
 * The size cuts, in multiply-adds per product. Below `js` a product stays
 * in JS (a Wasm or BLAS call, and Wasm staging, would cost more than they
 * save). Every larger product runs on the native BLAS where there is one
 * (on one of its threads or all of them by the product's size: blas.ts),
 * except float64 products below `f64Blas`, and on the Wasm GEMM where there
 * is none. float64 is the dtype of checks, where each output element must
 * be the same sum whatever the size of the product it is in: the Wasm
 * GEMM's is, OpenBLAS's is not (it picks its kernels by size), and the
 * jit's padded prefill must give the eager loop's float64 logits bit for
 * bit.
 */
export interface GemmCuts {
  readonly js: number;
  readonly f64Blas: number;
}
let cuts: GemmCuts = { js: 4096, f64Blas: 1 << 24 };

/** Change the size cuts (tests set both to 0 to run tiny products on the Wasm or BLAS GEMM). Returns the previous ones. */
export function setGemmCut(next: GemmCuts): GemmCuts {
  const prev = cuts;
  cuts = next;
  return prev;
}

/** The Wasm GEMM where WebAssembly is on, else none (JS only). */
export const wasmGemm: BatchedGemm | null = wasmEnabled ? wasmMatmul : null;

/** The GEMM for products past the size cut; chosen on the first product, so that a process without one never loads a BLAS. */
let fast: BatchedGemm | null | undefined;

const defaultGemm = (): BatchedGemm | null => blasGemm() ?? wasmGemm;

/** Swap the GEMM used for products past the size cut (null: JS only). Returns the previous one. */
export function setBatchedGemm(fn: BatchedGemm | null): BatchedGemm | null {
  const prev = fast === undefined ? defaultGemm() : fast;
  fast = fn;
  return prev;
}

/** Which GEMM large products use, and why (for `anchorgrad doctor`). */
export function gemmInfo(): string {
  if (fast !== undefined && fast !== blasGemm())
    return fast === wasmGemm
      ? "WebAssembly SIMD (set by setBatchedGemm)"
      : fast
        ? "custom (set by setBatchedGemm)"
        : "JS (set by setBatchedGemm)";
  const s = blasStatus();
  if (s.provider)
    return `${s.provider} (${s.library}${s.threads ? `, ${s.threads} threads, one below 2^24 multiply-adds` : ""}; ${s.reason})`;
  return `${wasmGemm ? "WebAssembly SIMD" : "JS"} (no native BLAS: ${s.reason})`;
}

/**
 * Batch-broadcast op(a) @ op(b) into a plan; a weight shared by every batch
 * entry folds the batch into M (when a's rows are stored contiguously).
 */
export function matmulPlan(
  aShape: readonly number[],
  bShape: readonly number[],
  outShape: readonly number[],
  { transposeA, transposeB }: MatmulParams,
): MatmulPlan {
  const [M, K] = matrixDims(aShape, transposeA);
  const N = matrixDims(bShape, transposeB)[1];
  const batchShape = outShape.slice(0, -2);
  const batch = sizeOf(batchShape);
  const aIndex = broadcastIndex(aShape.slice(0, -2), batchShape),
    bIndex = broadcastIndex(bShape.slice(0, -2), batchShape);
  const flags = { transposeA, transposeB };
  if (!aIndex && !transposeA && sizeOf(bShape.slice(0, -2)) === 1)
    return { M: M * batch, K, N, batch: 1, aIndex: null, bIndex: null, ...flags };
  return { M, K, N, batch, aIndex, bIndex, ...flags };
}

export function matmul([a, b]: readonly BufferRef<StorageArray>[], params: MatmulParams, out: OutSpec): StorageArray {
  const plan = matmulPlan(a!.shape, b!.shape, out.shape, params);
  const C = takeBuffer(out.dtype, sizeOf(out.shape), true) as Arr;
  if (fast === undefined) fast = defaultGemm();
  const macs = plan.M * plan.K * plan.N; // per product: a batch is a loop of them
  const gemm =
    !fast || macs < cuts.js
      ? jsMatmul
      : fast === blasGemm() && C instanceof Float64Array && macs < cuts.f64Blas && wasmGemm
        ? wasmGemm
        : fast;
  gemm(a!.buf as Arr, b!.buf as Arr, C, plan);
  return C;
}

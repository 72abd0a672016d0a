/**
 * Batched matmul on the CPU: batch broadcasting around a GEMM. float32 and
 * float64 products run on the WebAssembly SIMD GEMM (wasm/gemm.ts, threaded)
 * when WebAssembly is there and the product is big enough to repay staging;
 * otherwise, and for ANCHORGRAD_WASM=0, on the cache-blocked JS GEMM below.
 */
import type { BufferRef, OutSpec } from "../backend.js";
import type { StorageArray } from "../../tensor/dtype.js";
import { takeBuffer } from "./pool.js";
import { broadcastIndex } from "./strided.js";
import { sizeOf } from "../../tensor/shape.js";
import { wasmMatmul } from "./wasm/gemm.js";
import { wasmEnabled } from "./wasm/runtime.js";

type Arr = Float32Array | Float64Array;

const KB = 128, NB = 512;

/** C[M,N] += A[M,K] · B[K,N], all row-major at the given offsets. */
export function gemmBlocked(A: Arr, ao: number, B: Arr, bo: number, C: Arr, co: number, M: number, K: number, N: number): void {
  for (let n0 = 0; n0 < N; n0 += NB) {
    const n1 = Math.min(N, n0 + NB);
    for (let k0 = 0; k0 < K; k0 += KB) {
      const k1 = Math.min(K, k0 + KB);
      for (let i = 0; i < M; i++) {
        const ci = co + i * N, ai = ao + i * K;
        for (let k = k0; k < k1; k++) {
          const a = A[ai + k]!, bk = bo + k * N;
          for (let j = n0; j < n1; j++) C[ci + j] += a * B[bk + j]!;
        }
      }
    }
  }
}

/**
 * One batched product: C[t] = A[aIndex[t]] · B[bIndex[t]] for t < batch,
 * every matrix row-major and contiguous (M x K, K x N, M x N); a null index
 * means the identity.
 */
export interface MatmulPlan {
  readonly M: number;
  readonly K: number;
  readonly N: number;
  readonly batch: number;
  readonly aIndex: Int32Array | null;
  readonly bIndex: Int32Array | null;
}

/** Computes a whole plan into a zero-filled C. */
export type BatchedGemm = (A: Arr, B: Arr, C: Arr, plan: MatmulPlan) => void;

/** The plan on the JS GEMM, one batch entry at a time. */
export const jsMatmul: BatchedGemm = (A, B, C, { M, K, N, batch, aIndex, bIndex }) => {
  for (let t = 0; t < batch; t++) {
    gemmBlocked(A, (aIndex ? aIndex[t]! : t) * M * K, B, (bIndex ? bIndex[t]! : t) * K * N, C, t * M * N, M, K, N);
  }
};

/** Products with fewer multiply-adds than this stay in JS (staging would cost more than it saves). */
const WASM_MIN_MACS = 4096;

let fast: BatchedGemm | null = wasmEnabled ? wasmMatmul : null;

/** Swap the GEMM used for products past the size cut (null: JS only). Returns the previous one. */
export function setBatchedGemm(fn: BatchedGemm | null): BatchedGemm | null {
  const prev = fast;
  fast = fn;
  return prev;
}

/** Batch-broadcast a @ b into a plan; a weight shared by every batch entry folds the batch into M. */
export function matmulPlan(aShape: readonly number[], bShape: readonly number[], outShape: readonly number[]): MatmulPlan {
  const [M, K] = aShape.slice(-2) as [number, number];
  const N = bShape[bShape.length - 1]!;
  const batchShape = outShape.slice(0, -2);
  const batch = sizeOf(batchShape);
  const aIndex = broadcastIndex(aShape.slice(0, -2), batchShape), bIndex = broadcastIndex(bShape.slice(0, -2), batchShape);
  if (!aIndex && sizeOf(bShape.slice(0, -2)) === 1) return { M: M * batch, K, N, batch: 1, aIndex: null, bIndex: null };
  return { M, K, N, batch, aIndex, bIndex };
}

export function matmul([a, b]: readonly BufferRef<StorageArray>[], _p: unknown, out: OutSpec): StorageArray {
  const plan = matmulPlan(a!.shape, b!.shape, out.shape);
  const C = takeBuffer(out.dtype, sizeOf(out.shape)) as Arr;
  const big = plan.M * plan.K * plan.N >= WASM_MIN_MACS;
  (fast && big ? fast : jsMatmul)(a!.buf as Arr, b!.buf as Arr, C, plan);
  return C;
}

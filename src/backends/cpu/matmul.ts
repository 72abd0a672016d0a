/**
 * Batched matmul on the CPU: batch broadcasting around a cache-blocked GEMM.
 * The GEMM is the piece a WebAssembly SIMD micro-kernel replaces.
 */
import type { BufferRef, OutSpec } from "../backend.js";
import { allocArray, type StorageArray } from "../../tensor/dtype.js";
import { broadcastIndex } from "./strided.js";
import { sizeOf } from "../../tensor/shape.js";

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

let gemm = gemmBlocked;
/** Swap in a faster GEMM (same contract as gemmBlocked). */
export function setGemm(fn: typeof gemmBlocked): void { gemm = fn; }

export function matmul([a, b]: readonly BufferRef<StorageArray>[], _p: unknown, out: OutSpec): StorageArray {
  const [M, K] = a!.shape.slice(-2) as [number, number];
  const N = b!.shape[b!.shape.length - 1]!;
  const batchShape = out.shape.slice(0, -2);
  const batch = sizeOf(batchShape);
  const C = allocArray(out.dtype, sizeOf(out.shape)) as Arr;
  const ia = broadcastIndex(a!.shape.slice(0, -2), batchShape), ib = broadcastIndex(b!.shape.slice(0, -2), batchShape);
  for (let t = 0; t < batch; t++) {
    const at = ia ? ia[t]! : t, bt = ib ? ib[t]! : t;
    gemm(a!.buf as Arr, at * M * K, b!.buf as Arr, bt * K * N, C, t * M * N, M, K, N);
  }
  return C;
}

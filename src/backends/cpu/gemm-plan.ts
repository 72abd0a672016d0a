/** The plan of a batched product, shared by the JS and Wasm GEMMs (./matmul.ts, ./wasm/gemm.ts). */

type Arr = Float32Array | Float64Array;

/**
 * One batched product: C[t] = op(A[aIndex[t]]) · op(B[bIndex[t]]) for
 * t < batch, every stored matrix row-major and contiguous: A is M x K, or
 * K x M when transposeA; B is K x N, or N x K when transposeB; C is M x N.
 * A null index means the identity.
 */
export interface MatmulPlan {
  readonly M: number;
  readonly K: number;
  readonly N: number;
  readonly batch: number;
  readonly aIndex: Int32Array | null;
  readonly bIndex: Int32Array | null;
  readonly transposeA: boolean;
  readonly transposeB: boolean;
}

/** Computes a whole plan into C, writing every element (C comes uninitialised). */
export type BatchedGemm = (A: Arr, B: Arr, C: Arr, plan: MatmulPlan) => void;

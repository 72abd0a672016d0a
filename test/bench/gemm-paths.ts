/**
 * The GEMMs the cpu backend can run products on here (the Wasm SIMD GEMM,
 * and a native BLAS where one is found), and a way to run code with one of
 * them taking every product, however small, so that the op table's tiny
 * cases reach it too.
 */
import type { BatchedGemm } from "../../src/backends/cpu/gemm-plan.js";
import { blasGemm } from "../../src/backends/cpu/blas.js";
import { jsMatmul, setBatchedGemm, setGemmCut, wasmGemm } from "../../src/backends/cpu/matmul.js";

export interface GemmPath {
  readonly name: string;
  readonly gemm: BatchedGemm;
}

/** Every GEMM available in this process (blas only where a library was found; see blasStatus). */
export function gemmPaths(): GemmPath[] {
  const paths: GemmPath[] = [];
  if (wasmGemm) paths.push({ name: "wasm", gemm: wasmGemm });
  const blas = blasGemm();
  if (blas) paths.push({ name: "blas", gemm: blas });
  return paths;
}

/** Run f with `gemm` taking every product (no size cut), then restore the backend's choice. */
export function withGemm<T>(gemm: BatchedGemm | null, f: () => T): T {
  const prev = setBatchedGemm(gemm),
    cut = setGemmCut({ js: 0, f64Blas: 0 });
  try {
    return f();
  } finally {
    setBatchedGemm(prev);
    setGemmCut(cut);
  }
}

/** Whether f computes a matrix product (on whichever GEMM). */
export function usesGemm(f: () => void): boolean {
  let calls = 0;
  withGemm((A, B, C, plan) => {
    calls++;
    jsMatmul(A, B, C, plan);
  }, f);
  return calls > 0;
}

/**
 * A native BLAS for the cpu backend's matrix products, found at run time.
 *
 * Wasm's 128-bit SIMD tops out near half of what a native AVX-512 GEMM
 * reaches on the same cores, so where the machine has a BLAS (OpenBLAS on
 * Linux, Accelerate on macOS, MKL where installed) products go to its
 * cblas_sgemm / cblas_dgemm through koffi, an FFI whose prebuilt binaries
 * ship in its npm package. koffi is an optional dependency: without it, or
 * without a library, or with ANCHORGRAD_BLAS=off, the Wasm GEMM stays in use
 * and `blasStatus().reason` says why. ANCHORGRAD_BLAS=<path> names a library.
 *
 * Threads. Kernels are synchronous: while a BLAS call runs, the Wasm workers
 * sleep in Atomics.wait, so the BLAS may use every core the Wasm pool would
 * (defaultThreadCount, which honours ANCHORGRAD_THREADS) on large products,
 * and runs small ones on the calling thread (THREADED_MACS). What must not
 * happen is OpenBLAS's idle threads spinning after a call (by default for
 * 2^28 cycles, ~0.1 s) while the Wasm workers run the elementwise ops that
 * follow: on 2 cores that halves them. OPENBLAS_THREAD_TIMEOUT, read when the
 * library loads, is therefore set to its minimum unless the user set it.
 */
import { createRequire } from "node:module";
import type { BatchedGemm } from "./gemm-plan.js";
import { defaultThreadCount } from "./wasm/threads.js";

/** What koffi's loaded library gives us (the slice used here). */
interface KoffiLib {
  func(signature: string): (...args: unknown[]) => unknown;
}
interface Koffi {
  load(path: string): KoffiLib;
}

export interface BlasStatus {
  /** The GEMM provider's name, or null when the Wasm GEMM is used. */
  readonly provider: string | null;
  /** The library file that was loaded. */
  readonly library?: string;
  readonly threads?: number;
  /** Why this provider (or why none). */
  readonly reason: string;
}

interface Candidate {
  readonly provider: string;
  readonly path: string;
}

/** Libraries tried in order on each platform; the first that loads and has cblas_sgemm wins. */
function candidates(): Candidate[] {
  const explicit = process.env.ANCHORGRAD_BLAS;
  if (explicit && explicit !== "on" && explicit !== "off") return [{ provider: providerOf(explicit), path: explicit }];
  switch (process.platform) {
    case "darwin":
      return [
        { provider: "Accelerate", path: "/System/Library/Frameworks/Accelerate.framework/Accelerate" },
        { provider: "OpenBLAS", path: "/opt/homebrew/opt/openblas/lib/libopenblas.dylib" },
        { provider: "OpenBLAS", path: "/usr/local/opt/openblas/lib/libopenblas.dylib" },
      ];
    case "win32":
      return [
        { provider: "OpenBLAS", path: "libopenblas.dll" },
        { provider: "MKL", path: "mkl_rt.2.dll" },
      ];
    default:
      return [
        { provider: "OpenBLAS", path: "libopenblas.so.0" },
        { provider: "OpenBLAS", path: "libopenblas.so" },
        { provider: "MKL", path: "libmkl_rt.so.2" },
        { provider: "MKL", path: "libmkl_rt.so" },
      ];
  }
}

const providerOf = (path: string): string =>
  /mkl/i.test(path) ? "MKL" : /accelerate|veclib/i.test(path) ? "Accelerate" : /openblas/i.test(path) ? "OpenBLAS" : "BLAS";

function loadKoffi(): Koffi | string {
  try {
    const mod = createRequire(import.meta.url)("koffi") as Koffi & { default?: Koffi };
    return mod.default ?? mod;
  } catch (e) {
    return `koffi (optional dependency) not installed: ${(e as Error).message.split("\n")[0]}`;
  }
}

const CBLAS_ROW_MAJOR = 101,
  CBLAS_NO_TRANS = 111,
  CBLAS_TRANS = 112;

type Gemm = (...args: unknown[]) => unknown;

/**
 * Below this many multiply-adds in a whole product (its batch included) the
 * library runs on the calling thread alone. Waking its other threads for a
 * product this small costs more than they give back: on the 2-core machine
 * of bench/README.md, one-thread calls below 2^24 made the tiny InternVL's
 * DPO step 14-22% faster and the 7.7M model's 2-12%, against both the
 * library's own choice and the Wasm GEMM (which such products used to take).
 */
const THREADED_MACS = 1 << 24;

/**
 * The plan on a cblas ?gemm, one call per batch entry (the batch is usually
 * small, or folded into M by matmulPlan; a call costs ~0.3 µs through koffi).
 * Operands are passed as typed-array views, which koffi hands over in place.
 * `setThreads` (where the library has one) gives it one thread or `threads`
 * by the product's size; the last count set is remembered, so a run of
 * products of one kind sets it once.
 */
function batchedOn(sgemm: Gemm, dgemm: Gemm, setThreads: ((n: number) => void) | null, threads: number): BatchedGemm {
  let current = threads;
  return (A, B, C, { M, K, N, batch, aIndex, bIndex, transposeA, transposeB }) => {
    if (M === 0 || N === 0 || batch === 0) return;
    if (K === 0) {
      C.fill(0); // lda = K = 0 is an argument error for BLAS
      return;
    }
    const want = M * K * N * batch < THREADED_MACS ? 1 : threads;
    if (setThreads && want !== current) setThreads((current = want));
    const gemm = A instanceof Float32Array ? sgemm : dgemm;
    const ta = transposeA ? CBLAS_TRANS : CBLAS_NO_TRANS,
      tb = transposeB ? CBLAS_TRANS : CBLAS_NO_TRANS;
    const lda = transposeA ? M : K,
      ldb = transposeB ? K : N;
    const mk = M * K,
      kn = K * N,
      mn = M * N;
    for (let t = 0; t < batch; t++) {
      const ia = aIndex ? aIndex[t]! : t,
        ib = bIndex ? bIndex[t]! : t;
      const a = batch === 1 && ia === 0 ? A : A.subarray(ia * mk, ia * mk + mk);
      const b = batch === 1 && ib === 0 ? B : B.subarray(ib * kn, ib * kn + kn);
      const c = batch === 1 ? C : C.subarray(t * mn, t * mn + mn);
      gemm(CBLAS_ROW_MAJOR, ta, tb, M, N, K, 1, a, lda, b, ldb, 0, c, N);
    }
  };
}

/** The library's own thread-count setter (OpenBLAS, MKL), or null where it has none. */
function threadSetter(lib: KoffiLib): ((n: number) => void) | null {
  for (const name of ["openblas_set_num_threads", "MKL_Set_Num_Threads"]) {
    try {
      const set = lib.func(`void ${name}(int)`);
      return (n) => void set(n);
    } catch {
      // not this library's setter
    }
  }
  return null;
}

function open(): { gemm: BatchedGemm | null; status: BlasStatus } {
  if (process.env.ANCHORGRAD_BLAS === "off") return { gemm: null, status: { provider: null, reason: "ANCHORGRAD_BLAS=off" } };
  const koffi = loadKoffi();
  if (typeof koffi === "string") return { gemm: null, status: { provider: null, reason: koffi } };
  process.env.OPENBLAS_THREAD_TIMEOUT ??= "4";
  const misses: string[] = [];
  for (const c of candidates()) {
    let lib: KoffiLib;
    try {
      lib = koffi.load(c.path);
    } catch {
      misses.push(`${c.path} not found`);
      continue;
    }
    try {
      const sgemm = lib.func(
        "void cblas_sgemm(int, int, int, int, int, int, float, const float *, int, const float *, int, float, _Inout_ float *, int)",
      );
      const dgemm = lib.func(
        "void cblas_dgemm(int, int, int, int, int, int, double, const double *, int, const double *, int, double, _Inout_ double *, int)",
      );
      const threads = defaultThreadCount();
      const set = threadSetter(lib);
      set?.(threads);
      return {
        gemm: batchedOn(sgemm, dgemm, set, threads),
        status: {
          provider: c.provider,
          library: c.path,
          ...(set ? { threads } : {}),
          reason: process.env.ANCHORGRAD_BLAS ? `ANCHORGRAD_BLAS=${process.env.ANCHORGRAD_BLAS}` : "found at run time",
        },
      };
    } catch (e) {
      misses.push(`${c.path} has no cblas_sgemm/cblas_dgemm (${(e as Error).message.split("\n")[0]})`);
    }
  }
  return { gemm: null, status: { provider: null, reason: `no BLAS library: ${misses.join("; ")}` } };
}

let opened: { gemm: BatchedGemm | null; status: BlasStatus } | null = null;

/** The native GEMM, loading the library on first call; null where there is none (see blasStatus). */
export function blasGemm(): BatchedGemm | null {
  opened ??= open();
  return opened.gemm;
}

/** Which native GEMM is in use, or why none is. */
export function blasStatus(): BlasStatus {
  opened ??= open();
  return opened.status;
}

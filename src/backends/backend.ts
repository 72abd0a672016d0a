/**
 * The contract every backend implements. A backend is a runtime (buffers,
 * upload, readback) plus one kernel per primitive name; autodiff and the ops
 * never know which backend ran. To drop in a faster kernel for one primitive
 * (WebAssembly SIMD, worker threads), replace that entry of `kernels`.
 */
import type { DType, StorageArray } from "../tensor/dtype.js";
import type { Shape } from "../tensor/shape.js";

/** What a kernel sees of an input: the backend's buffer plus its metadata. */
export interface BufferRef<B = unknown> {
  readonly buf: B;
  readonly shape: Shape;
  readonly dtype: DType;
}

export interface OutSpec {
  readonly shape: Shape;
  readonly dtype: DType;
}

/** A kernel computes one primitive's output buffer from its inputs. */
export type Kernel<B = unknown> = (inputs: readonly BufferRef<B>[], params: any, out: OutSpec) => B;

export interface Backend<B = unknown> {
  readonly name: string;
  /** Copy host values (already in `dtype`'s storage format) to a new buffer. */
  upload(values: StorageArray, dtype: DType): B;
  /** Read a buffer back as a flat storage array of `size` elements. */
  read(buf: B, dtype: DType, size: number): Promise<StorageArray>;
  /** Synchronous readback; backends that cannot do it throw a clear error. */
  readSync(buf: B, dtype: DType, size: number): StorageArray;
  /** Release a buffer (return it to a pool, or drop it). */
  free(buf: B, dtype: DType, size: number): void;
  /** Run the kernel registered for `prim`. */
  run(prim: string, inputs: readonly BufferRef<B>[], params: unknown, out: OutSpec): B;
  /** Names of the primitives this backend has kernels for. */
  kernelNames(): string[];
}

/** Status of one backend on this machine, for `backends()` and `anchorgrad doctor`. */
export interface BackendStatus {
  name: string;
  available: boolean;
  /** Why it is unavailable, or how to get it. */
  reason?: string;
  /** Adapter name, limits, features, ... */
  info?: Record<string, unknown>;
}

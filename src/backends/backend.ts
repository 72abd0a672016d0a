/**
 * The contract every backend implements. A backend is a runtime (buffers,
 * upload, readback) plus one kernel per primitive name; autodiff and the ops
 * never know which backend ran. Kernels are keyed by primitive name and
 * typed by its parameter record (src/prims/params.ts).
 */
import type { KernelPrim, ParamsOf, PointwiseProgram } from "../prims/index.js";
import type { Device } from "../tensor/device.js";
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
export type Kernel<P, B = unknown> = (inputs: readonly BufferRef<B>[], params: P, out: OutSpec) => B;

/** One kernel for every kernel primitive, each typed by that primitive's parameters. */
export type KernelTable<B> = { readonly [P in KernelPrim]: Kernel<ParamsOf<P>, B> };

export interface Backend<B = unknown> extends Device<B> {
  /** Copy host values (already in `dtype`'s storage format) to a new buffer. */
  upload(values: StorageArray, dtype: DType): B;
  /** Run the kernel of primitive `prim`. */
  run<P extends KernelPrim>(prim: P, inputs: readonly BufferRef<B>[], params: ParamsOf<P>, out: OutSpec): B;
  /** Names of the primitives this backend has kernels for. */
  kernelNames(): string[];
  /**
   * Run a fused pointwise program (the jit's elementwise chains) as one
   * kernel, returning one buffer per program output, or null for a program
   * it does not render. Optional: without it (or on null) the jit runs the
   * chain one primitive at a time.
   */
  runPointwise?(program: PointwiseProgram, inputs: readonly BufferRef<B>[]): B[] | null;
  /**
   * matmul(a, b) with a one-output pointwise program applied to each
   * element of the product as it is stored (the jit's matmul epilogue: a
   * bias, a residual add, an activation), so the product is never written
   * out. Input `slot` of the program is the product; `inputs` are its
   * other inputs, in order. Optional, and null where the backend cannot:
   * the jit then runs the product and the program apart.
   */
  runMatmulEpilogue?(
    a: BufferRef<B>,
    b: BufferRef<B>,
    params: ParamsOf<"matmul">,
    epilogue: { readonly program: PointwiseProgram; readonly slot: number; readonly inputs: readonly BufferRef<B>[] },
    out: OutSpec,
  ): B | null;
  /**
   * Whether the kernel of `prim` reads float16/bfloat16 inputs itself
   * (computing in float32) and rounds a half output once, as cast does.
   * Without it the core casts half inputs up and the result down around the
   * kernel, which costs two extra passes and twice the memory traffic; a
   * kernel that reads 16-bit storage directly (the webgpu tiled matmul)
   * is where half precision pays.
   */
  takesHalf?(prim: KernelPrim): boolean;
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

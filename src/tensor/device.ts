/**
 * What a tensor needs of the backend that holds its buffer: reading it back
 * and releasing it. The backends (src/backends/) implement this and more
 * (upload, kernels); the tensor layer knows only this much of them.
 */
import type { DType, StorageArray } from "./dtype.js";

export interface Device<B = unknown> {
  readonly name: string;
  /** Its values hold no memory (abstract values while a function is traced): not counted, not scoped. */
  readonly holdsNoMemory?: boolean;
  /** Read a buffer back as a flat storage array of `size` elements. */
  read(buf: B, dtype: DType, size: number): Promise<StorageArray>;
  /** Synchronous readback; devices that cannot do it throw a clear error. */
  readSync(buf: B, dtype: DType, size: number): StorageArray;
  /** Release a buffer (return it to a pool, or drop it). */
  free(buf: B, dtype: DType, size: number): void;
}

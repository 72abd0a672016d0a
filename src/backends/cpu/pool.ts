/**
 * Reuse of large CPU buffers. A fresh 32 MB typed array costs a page fault
 * per 4 KB page on first touch (2-3 ns an element, more than an add), so
 * buffers that tensors release through `dispose`/`scope` wait here, per
 * dtype and length, for the next kernel output of that size.
 *
 * Contract: a cpu kernel returns a buffer it owns (never an input's), so a
 * released buffer is referenced by nobody.
 */
import { allocArray, type DType, type StorageArray } from "../../tensor/dtype.js";

/** Smaller buffers are cheap to allocate and are not kept. */
const MIN_BYTES = 1 << 16;
/** At most this much idle memory is held. */
const CAP_BYTES = 512 << 20;

const idle = new Map<string, StorageArray[]>();
const held = new WeakSet<StorageArray>();
let idleBytes = 0;

const keyOf = (dtype: DType, n: number) => `${dtype}:${n}`;

/**
 * A buffer of n elements of dtype; zero-filled unless `overwrite` says the
 * caller writes every element itself.
 */
export function takeBuffer(dtype: DType, n: number, overwrite = false): StorageArray {
  const list = idle.get(keyOf(dtype, n));
  const buf = list?.pop();
  if (!buf) return allocArray(dtype, n);
  held.delete(buf);
  idleBytes -= buf.byteLength;
  if (!overwrite) buf.fill(0);
  return buf;
}

/** Hand a buffer that no tensor uses any more back for reuse. */
export function releaseBuffer(buf: StorageArray, dtype: DType): void {
  if (buf.byteLength < MIN_BYTES || held.has(buf) || idleBytes + buf.byteLength > CAP_BYTES) return;
  const key = keyOf(dtype, buf.length);
  let list = idle.get(key);
  if (!list) idle.set(key, (list = []));
  list.push(buf);
  held.add(buf);
  idleBytes += buf.byteLength;
}

/** Drop every idle buffer (tests, or to return memory to the system). */
export function clearBufferPool(): void {
  idle.clear();
  idleBytes = 0;
}

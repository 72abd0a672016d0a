/**
 * Where cpu buffers come from. All but the smallest live in the Wasm heap
 * (so the Wasm kernels on every thread use them in place) while it has room, else in
 * ordinary typed arrays kept for reuse: a fresh 32 MB array costs a page
 * fault per 4 KB page on first touch (2-3 ns an element, more than an add).
 * Buffers come back through `dispose`/`scope` (backend.free), or, for
 * tensors never disposed, when the garbage collector drops their array.
 *
 * Contract: a cpu kernel returns a buffer it owns, or an input's buffer
 * passed through `shareBuffer` (reshape: the same elements in the same
 * order), which then has one more owner; nothing writes into a buffer after
 * its kernel returns it, and a buffer is reused once its last owner releases it.
 */
import { allocArray, byteSize, type DType, type StorageArray } from "../../tensor/dtype.js";
import { inWasmMemory, viewAt, type Block } from "./wasm/heap.js";
import { wasmEnabled, wasmRuntime } from "./wasm/runtime.js";

/**
 * Buffers from this size up come from the Wasm heap while it has room, so
 * that the Wasm kernels take them in place: in a small model's backward
 * pass most elementwise ops are a few thousand elements, where the Wasm
 * kernels are several times faster than a JS loop.
 */
const HEAP_MIN_BYTES = 1 << 12;
/** Ordinary buffers from this size up are kept for reuse; smaller ones are cheap to allocate. */
const POOL_MIN_BYTES = 1 << 16;
/** At most this much idle memory is held. */
const CAP_BYTES = 512 << 20;

const idle = new Map<string, StorageArray[]>();
const held = new WeakSet<StorageArray>();
let idleBytes = 0;

const keyOf = (dtype: DType, n: number) => `${dtype}:${n}`;

const CTOR = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  bool: Uint8Array,
} as const;
/** The heap blocks of live buffers, by address (a map of numbers costs the collector less than a WeakMap of views). */
const blocks = new Map<number, Block>();
const collected = new FinalizationRegistry<Block>((b) => {
  blocks.delete(b.ptr);
  wasmRuntime().heap.free(b);
});

function fromHeap(dtype: DType, n: number): StorageArray | null {
  const rt = wasmRuntime();
  const block = rt.heap.alloc(n * byteSize(dtype));
  if (!block) return null;
  const view = viewAt(rt.threads, CTOR[dtype], block.ptr, n);
  blocks.set(block.ptr, block);
  collected.register(view, block, view);
  return view;
}

/**
 * A buffer of n elements of dtype; zero-filled unless `overwrite` says the
 * caller writes every element itself.
 */
export function takeBuffer(dtype: DType, n: number, overwrite = false): StorageArray {
  const bytes = n * byteSize(dtype);
  const heap = wasmEnabled && bytes >= HEAP_MIN_BYTES ? fromHeap(dtype, n) : null;
  if (heap) {
    if (!overwrite) heap.fill(0);
    return heap;
  }
  const buf = bytes >= POOL_MIN_BYTES ? idle.get(keyOf(dtype, n))?.pop() : undefined;
  if (!buf) return allocArray(dtype, n);
  held.delete(buf);
  idleBytes -= buf.byteLength;
  if (!overwrite) buf.fill(0);
  return buf;
}

/** Owners beyond the first of buffers that several tensors share (weak: a shared buffer may also just be collected). */
const extraOwners = new WeakMap<StorageArray, number>();

/** `buf`, with one more owner: it goes back for reuse only when every owner has released it. */
export function shareBuffer(buf: StorageArray): StorageArray {
  extraOwners.set(buf, (extraOwners.get(buf) ?? 0) + 1);
  return buf;
}

/** An owner is done with `buf`; the last one hands it back for reuse. */
export function releaseBuffer(buf: StorageArray, dtype: DType): void {
  const extra = extraOwners.get(buf);
  if (extra) {
    if (extra === 1) extraOwners.delete(buf);
    else extraOwners.set(buf, extra - 1);
    return;
  }
  const block = inWasmMemory(buf) ? blocks.get(buf.byteOffset) : undefined;
  if (block) {
    blocks.delete(block.ptr);
    collected.unregister(buf);
    wasmRuntime().heap.free(block);
    return;
  }
  if (buf.byteLength < POOL_MIN_BYTES || held.has(buf) || idleBytes + buf.byteLength > CAP_BYTES) return;
  const key = keyOf(dtype, buf.length);
  let list = idle.get(key);
  if (!list) idle.set(key, (list = []));
  list.push(buf);
  held.add(buf);
  idleBytes += buf.byteLength;
}

/** Drop every idle ordinary buffer (tests, or to return memory to the system). */
export function clearBufferPool(): void {
  idle.clear();
  idleBytes = 0;
}

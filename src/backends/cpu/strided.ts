/** Index helpers shared by the CPU kernels: strided copies and broadcast maps. */
import { broadcastStrides, sameShape, sizeOf, stridesOf, type Shape } from "../../tensor/shape.js";
import type { StorageArray } from "../../tensor/dtype.js";

/**
 * Copy a `shape`-shaped region: element at multi-index m goes from
 * src[srcBase + m·srcStrides] to dst[dstBase + m·dstStrides].
 */
export function copyStrided(
  src: StorageArray, srcBase: number, srcStrides: readonly number[],
  dst: StorageArray, dstBase: number, dstStrides: readonly number[],
  shape: Shape,
): void {
  if (shape.length === 0) { dst[dstBase] = src[srcBase]!; return; }
  if (sizeOf(shape) === 0) return;
  copyLoopFor(src, dst)(src, srcBase, srcStrides, dst, dstBase, dstStrides, shape);
}

type CopyLoop = typeof copyLoop;

/**
 * The loop of copyStrided, written self-contained so that each pair of array
 * kinds can get its own compiled instance: V8 optimises an element access
 * for the array kinds it has seen there, and one loop shared by every dtype
 * runs megamorphic, 10-30x slower (a 64x64 float32 transpose: ~120 µs
 * against ~4 µs).
 */
function copyLoop(
  src: StorageArray, srcBase: number, srcStrides: readonly number[],
  dst: StorageArray, dstBase: number, dstStrides: readonly number[],
  shape: readonly number[],
): void {
  const r = shape.length;
  let n = 1;
  for (let k = 0; k < r; k++) n *= shape[k]!;
  const L = shape[r - 1]!, ss = srcStrides[r - 1]!, ds = dstStrides[r - 1]!;
  const idx = new Array<number>(r - 1).fill(0);
  let so = srcBase, doff = dstBase;
  for (let done = 0; done < n; done += L) {
    if (ss === 1 && ds === 1) {
      (dst as Float64Array).set((src as Float64Array).subarray(so, so + L), doff);
    } else if (ss === 0 && ds === 1) {
      dst.fill(src[so]!, doff, doff + L); // a broadcast row
    } else {
      for (let j = 0; j < L; j++) dst[doff + j * ds] = src[so + j * ss]!;
    }
    for (let k = r - 2; k >= 0; k--) {
      so += srcStrides[k]!; doff += dstStrides[k]!;
      if (++idx[k]! < shape[k]!) break;
      so -= srcStrides[k]! * shape[k]!; doff -= dstStrides[k]! * shape[k]!;
      idx[k] = 0;
    }
  }
}

const copyLoops = new Map<string, CopyLoop>();

function copyLoopFor(src: StorageArray, dst: StorageArray): CopyLoop {
  const key = `${src.constructor.name}>${dst.constructor.name}`;
  let loop = copyLoops.get(key);
  if (!loop) {
    loop = new Function(`return (${copyLoop.toString()})`)() as CopyLoop;
    copyLoops.set(key, loop);
  }
  return loop;
}

const cache = new Map<string, Int32Array>();

/**
 * For each flat output index of `outShape`, the flat index into an input of
 * `shape` broadcast to it; null when no broadcasting is needed. Cached,
 * since the same shape pairs recur every training step.
 */
export function broadcastIndex(shape: Shape, outShape: Shape): Int32Array | null {
  if (sameShape(shape, outShape)) return null;
  const key = `${shape.join(",")}>${outShape.join(",")}`;
  let idx = cache.get(key);
  if (!idx) {
    idx = new Int32Array(sizeOf(outShape));
    const iota = Int32Array.from({ length: sizeOf(shape) }, (_, i) => i);
    copyStrided(iota, 0, broadcastStrides(shape, outShape), idx, 0, stridesOf(outShape), outShape);
    if (cache.size > 256) cache.clear();
    cache.set(key, idx);
  }
  return idx;
}

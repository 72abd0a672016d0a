/** Index helpers shared by the CPU kernels: strided copies and broadcast maps. */
import { broadcastStrides, collapse, sameShape, sizeOf, stridesOf, type Shape } from "../../tensor/shape.js";
import type { StorageArray } from "../../tensor/dtype.js";
import { wasmCopy } from "./wasm/copy.js";

/**
 * Copy a `shape`-shaped region: element at multi-index m goes from
 * src[srcBase + m·srcStrides] to dst[dstBase + m·dstStrides].
 */
export function copyStrided(
  src: StorageArray,
  srcBase: number,
  srcStrides: readonly number[],
  dst: StorageArray,
  dstBase: number,
  dstStrides: readonly number[],
  shape: Shape,
): void {
  if (sizeOf(shape) === 0) return;
  // fewest axes: a contiguous block of any rank is one run
  const c = collapse(shape, [srcStrides, dstStrides]);
  if (c.shape.length === 0) {
    dst[dstBase] = src[srcBase]!;
    return;
  }
  if (wasmCopy(src, srcBase, dst, dstBase, c)) return;
  copyLoopFor(src, dst)(src, srcBase, c.strides[0]!, dst, dstBase, c.strides[1]!, c.shape);
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
  src: StorageArray,
  srcBase: number,
  srcStrides: readonly number[],
  dst: StorageArray,
  dstBase: number,
  dstStrides: readonly number[],
  shape: readonly number[],
): void {
  // the last two axes are plain nested loops (rows of a transpose or of a
  // head split are often 8-64 long); an odometer walks the axes before them
  const r = shape.length;
  const L = shape[r - 1]!,
    ss = srcStrides[r - 1]!,
    ds = dstStrides[r - 1]!;
  const M = r >= 2 ? shape[r - 2]! : 1,
    ms = r >= 2 ? srcStrides[r - 2]! : 0,
    md = r >= 2 ? dstStrides[r - 2]! : 0;
  let outer = 1;
  for (let k = 0; k < r - 2; k++) outer *= shape[k]!;
  const idx = new Array<number>(Math.max(0, r - 2)).fill(0);
  let so = srcBase,
    doff = dstBase;
  for (let t = 0; t < outer; t++) {
    for (let i = 0; i < M; i++) {
      const s0 = so + i * ms,
        d0 = doff + i * md;
      if (ss === 1 && ds === 1 && L >= 256) {
        // a view costs ~100 ns to make: worth it for long runs only
        (dst as Float64Array).set((src as Float64Array).subarray(s0, s0 + L), d0);
      } else {
        for (let j = 0; j < L; j++) dst[d0 + j * ds] = src[s0 + j * ss]!;
      }
    }
    for (let k = r - 3; k >= 0; k--) {
      so += srcStrides[k]!;
      doff += dstStrides[k]!;
      if (++idx[k]! < shape[k]!) break;
      so -= srcStrides[k]! * shape[k]!;
      doff -= dstStrides[k]! * shape[k]!;
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

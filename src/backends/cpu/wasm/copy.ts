/**
 * Strided copies of 4-byte elements on the Wasm kernel of copy-module.ts,
 * split into units that every thread claims. The head split and merge of
 * attention, RoPE's halves and the patch reshuffles of a vision tower are
 * copies of this kind, each a few hundred thousand elements.
 */
import type { StorageArray } from "../../../tensor/dtype.js";
import { sizeOf, type Collapsed } from "../../../tensor/shape.js";
import { forEachIndex, MIN_ELEMENTS, run, UNIT } from "./elementwise.js";
import { inWasmMemory } from "./heap.js";
import { wasmEnabled, wasmRuntime } from "./runtime.js";
import type { Unit } from "./threads.js";

let copies = 0;
/** How many copies ran here: lets tests see that this path ran. */
export const wasmCopies = (): number => copies;

/**
 * Copy the region `c` describes (a shape collapsed to its fewest axes, rank
 * ≥ 1, with the source's strides and the destination's), element m from
 * src[srcBase + m·c.strides[0]] to dst[dstBase + m·c.strides[1]], on the
 * Wasm kernel; false, touching nothing, when the copy does not fit it (not
 * 4-byte elements, a buffer outside the Wasm heap, or too small to repay
 * the call).
 */
export function wasmCopy(src: StorageArray, srcBase: number, dst: StorageArray, dstBase: number, c: Collapsed): boolean {
  const { shape } = c,
    [srcStrides, dstStrides] = [c.strides[0]!, c.strides[1]!];
  const n = sizeOf(shape);
  if (!wasmEnabled || n < MIN_ELEMENTS || src.BYTES_PER_ELEMENT !== 4 || dst.BYTES_PER_ELEMENT !== 4) return false;
  if (!inWasmMemory(src) || !inWasmMemory(dst)) return false;
  const rt = wasmRuntime(),
    kernel = rt.threads.kernel("copy.32", "copy"),
    units: Unit[] = [];
  const so = src.byteOffset + 4 * srcBase,
    doff = dst.byteOffset + 4 * dstBase;
  if (shape.length === 1) {
    // one run, in pieces of UNIT elements that the threads share
    const s0 = 4 * srcStrides[0]!,
      d0 = 4 * dstStrides[0]!;
    for (let j = 0; j < n; j += UNIT)
      units.push({ kernel, args: [doff + j * d0, so + j * s0, 1, 1, Math.min(UNIT, n - j), 0, 0, 0, 0, d0, s0] });
  } else {
    // the last three axes are the kernel's block (two of them padded with a length-1 axis), the axes before it an odometer
    const pad = Math.max(0, 3 - shape.length);
    const sh = [...Array<number>(pad).fill(1), ...shape],
      ss = [...Array<number>(pad).fill(0), ...srcStrides].map((x) => 4 * x),
      ds = [...Array<number>(pad).fill(0), ...dstStrides].map((x) => 4 * x);
    const r = sh.length,
      [n2, n1, n0] = sh.slice(r - 3) as [number, number, number],
      [s2, s1, s0] = ss.slice(r - 3) as [number, number, number],
      [d2, d1, d0] = ds.slice(r - 3) as [number, number, number];
    // the block's leading axis in chunks of about UNIT elements
    const chunk = Math.max(1, Math.floor(UNIT / Math.max(1, n1 * n0)));
    forEachIndex(sh.slice(0, r - 3), [ss, ds], ([s, d]) => {
      for (let a = 0; a < n2; a += chunk)
        units.push({ kernel, args: [doff + d! + a * d2, so + s! + a * s2, Math.min(chunk, n2 - a), n1, n0, d2, s2, d1, s1, d0, s0] });
    });
  }
  run(rt, units, n, []);
  copies++;
  return true;
}

/**
 * Strided copies of 4-byte elements on the Wasm kernel of copy-module.ts,
 * split into units that every thread claims. The head split and merge of
 * attention, RoPE's halves and the patch reshuffles of a vision tower are
 * copies of this kind, each a few hundred thousand elements.
 */
import type { StorageArray } from "../../../tensor/dtype.js";
import { MIN_ELEMENTS, run, UNIT } from "./elementwise.js";
import { inWasmMemory } from "./heap.js";
import { wasmEnabled, wasmRuntime } from "./runtime.js";
import type { Unit } from "./threads.js";

let copies = 0;
/** How many copies ran here: lets tests see that this path ran. */
export const wasmCopies = (): number => copies;

/**
 * Copy a `shape`-shaped region, element m from src[srcBase + m·srcStrides]
 * to dst[dstBase + m·dstStrides] (shape already collapsed to its fewest
 * axes, rank ≥ 1), on the Wasm kernel; false, touching nothing, when the
 * copy does not fit it (not 4-byte elements, a buffer outside the Wasm
 * heap, or too small to repay the call).
 */
export function wasmCopy(
  src: StorageArray,
  srcBase: number,
  srcStrides: readonly number[],
  dst: StorageArray,
  dstBase: number,
  dstStrides: readonly number[],
  shape: readonly number[],
): boolean {
  const n = shape.reduce((a, b) => a * b, 1);
  if (!wasmEnabled || n < MIN_ELEMENTS || src.BYTES_PER_ELEMENT !== 4 || dst.BYTES_PER_ELEMENT !== 4) return false;
  if (!inWasmMemory(src) || !inWasmMemory(dst)) return false;
  let sh = [...shape],
    ss = [...srcStrides],
    ds = [...dstStrides];
  if (sh.length === 1 && sh[0]! >= 2 * UNIT) {
    // one long run: rows of UNIT elements, so that the threads share it (the tail is its own block)
    const rows = Math.floor(sh[0]! / UNIT),
      rest = sh[0]! - rows * UNIT;
    if (rest > 0) {
      const at = rows * UNIT;
      if (!wasmCopy(src, srcBase + at * ss[0]!, ss, dst, dstBase + at * ds[0]!, ds, [rest])) return false;
    }
    [sh, ss, ds] = [
      [rows, UNIT],
      [UNIT * ss[0]!, ss[0]!],
      [UNIT * ds[0]!, ds[0]!],
    ];
  }
  while (sh.length < 3)
    [sh, ss, ds] = [
      [1, ...sh],
      [0, ...ss],
      [0, ...ds],
    ];
  const r = sh.length,
    [n2, n1, n0] = sh.slice(r - 3) as [number, number, number];
  const [s2, s1, s0] = ss.slice(r - 3).map((s) => 4 * s) as [number, number, number];
  const [d2, d1, d0] = ds.slice(r - 3).map((s) => 4 * s) as [number, number, number];
  const rt = wasmRuntime(),
    kernel = rt.threads.kernel("copy.32", "copy");
  // the leading block axis in chunks of about UNIT elements, for every index of the axes before the block
  const chunk = Math.max(1, Math.floor(UNIT / Math.max(1, n1 * n0)));
  const units: Unit[] = [];
  const outer = sh.slice(0, r - 3),
    idx = outer.map(() => 0);
  let so = src.byteOffset + 4 * srcBase,
    doff = dst.byteOffset + 4 * dstBase;
  for (let o = 0, count = outer.reduce((a, b) => a * b, 1); o < count; o++) {
    for (let a = 0; a < n2; a += chunk)
      units.push({ kernel, args: [doff + a * d2, so + a * s2, Math.min(chunk, n2 - a), n1, n0, d2, s2, d1, s1, d0, s0] });
    for (let k = outer.length - 1; k >= 0; k--) {
      so += 4 * ss[k]!;
      doff += 4 * ds[k]!;
      if (++idx[k]! < outer[k]!) break;
      so -= 4 * ss[k]! * outer[k]!;
      doff -= 4 * ds[k]! * outer[k]!;
      idx[k] = 0;
    }
  }
  run(rt, units, n, []);
  copies++;
  return true;
}

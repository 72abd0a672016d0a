/**
 * The fused row primitives' float32 kernels (rows-module.ts) on every
 * thread: rows are split into units of about 64K elements (a unit per row
 * past that). Inputs outside the Wasm heap are staged when small; the output
 * must be in the heap (cpu buffers are). Each entry point returns false when
 * the job does not fit (wasm off, not float32, too small, too big to stage),
 * leaving it to the JS kernels.
 */
import type { StorageArray } from "../../../tensor/dtype.js";
import { MIN_ELEMENTS, place, rowChunks, run } from "./elementwise.js";
import { inWasmMemory, type Block } from "./heap.js";
import { wasmEnabled, wasmRuntime, type WasmRuntime } from "./runtime.js";
import type { Unit } from "./threads.js";

const fits = (x: StorageArray, rows: number, cols: number, res: StorageArray | null): x is Float32Array =>
  wasmEnabled &&
  x instanceof Float32Array &&
  rows * cols >= MIN_ELEMENTS &&
  cols > 0 &&
  (!res || (res instanceof Float32Array && inWasmMemory(res)));

/** Operands' addresses (staging the small outside ones) and the blocks to free after; null if one is too big. */
function placed(rt: WasmRuntime, bufs: readonly StorageArray[]): { ptrs: number[]; blocks: Block[] } | null {
  const blocks: Block[] = [];
  const ptrs = place(rt, bufs, blocks);
  if (!ptrs) {
    for (const b of blocks) rt.heap.free(b);
    return null;
  }
  return { ptrs, blocks };
}

/** Units of `fn` over row ranges; `args(r0, r1)` gives each unit's arguments. */
function rowUnits(rt: WasmRuntime, fn: string, rows: number, cols: number, args: (r0: number, r1: number) => number[]): Unit[] {
  const kernel = rt.threads.kernel("rows.f32", fn);
  return [...rowChunks(rows, cols)].map(([r0, r1]) => ({ kernel, args: args(r0, r1) }));
}

/** softmax of each row of x [rows, cols] into res. */
export function wasmSoftmax(x: StorageArray, rows: number, cols: number, res: StorageArray): boolean {
  if (!fits(x, rows, cols, res)) return false;
  const rt = wasmRuntime(),
    at = placed(rt, [x]);
  if (!at) return false;
  const out = res.byteOffset,
    [xp] = at.ptrs as [number];
  run(
    rt,
    rowUnits(rt, "softmax", rows, cols, (r0, r1) => [out + 4 * r0 * cols, xp + 4 * r0 * cols, r1 - r0, cols]),
    rows * cols,
    at.blocks,
  );
  return true;
}

/** softmax's VJP y·(g − Σ y·g) for each row of y, g [rows, cols] into res. */
export function wasmSoftmaxGrad(y: StorageArray, g: StorageArray, rows: number, cols: number, res: StorageArray): boolean {
  if (!fits(y, rows, cols, res) || !(g instanceof Float32Array)) return false;
  const rt = wasmRuntime(),
    at = placed(rt, [y, g]);
  if (!at) return false;
  const out = res.byteOffset,
    [yp, gp] = at.ptrs as [number, number];
  run(
    rt,
    rowUnits(rt, "softmax_grad", rows, cols, (r0, r1) => [out + 4 * r0 * cols, yp + 4 * r0 * cols, gp + 4 * r0 * cols, r1 - r0, cols]),
    rows * cols,
    at.blocks,
  );
  return true;
}

/**
 * logsumexp of each row of x [rows, cols], in float64 (the kernel's max and
 * float64 sum, with the log taken here); null when the job does not fit.
 */
export function wasmLogsumexp(x: StorageArray, rows: number, cols: number): Float64Array | null {
  if (!fits(x, rows, cols, null)) return null;
  const rt = wasmRuntime(),
    at = placed(rt, [x]);
  if (!at) return null;
  const stats = rt.heap.alloc(rows * 12, true)!; // [rows] f64 sums, then [rows] f32 maxima
  at.blocks.push(stats);
  const sums = stats.ptr,
    maxima = stats.ptr + 8 * rows,
    [xp] = at.ptrs as [number];
  const lse = new Float64Array(rows);
  run(
    rt,
    rowUnits(rt, "lse_stats", rows, cols, (r0, r1) => [maxima + 4 * r0, sums + 8 * r0, xp + 4 * r0 * cols, r1 - r0, cols]),
    rows * cols,
    at.blocks,
    () => {
      const s = new Float64Array(rt.threads.memory.buffer, sums, rows),
        m = new Float32Array(rt.threads.memory.buffer, maxima, rows);
      for (let r = 0; r < rows; r++) lse[r] = m[r]! + Math.log(s[r]!);
    },
  );
  return lse;
}

/** x − lse[row] for each row of x [rows, cols] into res, on the elementwise subtraction kernel. */
export function wasmSubtractRows(x: StorageArray, lse: Float64Array, rows: number, cols: number, res: StorageArray): boolean {
  if (!fits(x, rows, cols, res)) return false;
  const rt = wasmRuntime(),
    at = placed(rt, [x, Float32Array.from(lse)]);
  if (!at) return false;
  const out = res.byteOffset,
    [xp, lp] = at.ptrs as [number, number];
  const kernel = rt.threads.kernel("ew.f32", "bin_sub");
  const units = [...rowChunks(rows, cols)].map(([r0, r1]) => ({
    kernel,
    args: [out + 4 * r0 * cols, xp + 4 * r0 * cols, lp + 4 * r0, r1 - r0, cols, cols, 1, 1, 0],
  }));
  run(rt, units, rows * cols, at.blocks);
  return true;
}

/** float32 bits of eps, as the norm kernels take it. */
const epsBits = (eps: number): number => new Int32Array(Float32Array.of(eps).buffer)[0]!;

/**
 * layerNorm or rmsNorm of each row of x [rows, cols] into res, with
 * optional weight and bias [cols] (rmsNorm: no bias).
 */
export function wasmNorm(
  kind: "layernorm" | "rmsnorm",
  x: StorageArray,
  weight: StorageArray | null,
  bias: StorageArray | null,
  rows: number,
  cols: number,
  eps: number,
  res: StorageArray,
): boolean {
  if (!fits(x, rows, cols, res) || [weight, bias].some((t) => t && !(t instanceof Float32Array))) return false;
  const rt = wasmRuntime(),
    at = placed(rt, [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])]);
  if (!at) return false;
  const [xp, ...affine] = at.ptrs as [number, ...number[]];
  const wp = weight ? affine.shift()! : 0,
    bp = bias ? affine.shift()! : 0;
  const flags = (weight ? 1 : 0) | (bias ? 2 : 0),
    out = res.byteOffset,
    e = epsBits(eps);
  const units = rowUnits(rt, kind, rows, cols, (r0, r1) =>
    kind === "layernorm"
      ? [out + 4 * r0 * cols, xp + 4 * r0 * cols, wp, bp, r1 - r0, cols, e, flags]
      : [out + 4 * r0 * cols, xp + 4 * r0 * cols, wp, r1 - r0, cols, e, flags],
  );
  run(rt, units, rows * cols, at.blocks);
  return true;
}

/** The norms' VJP for x (layerNorm when `center`, else rmsNorm) of each row of x and h [rows, cols] into res. */
export function wasmNormGrad(
  x: StorageArray,
  h: StorageArray,
  rows: number,
  cols: number,
  eps: number,
  center: boolean,
  res: StorageArray,
): boolean {
  if (!fits(x, rows, cols, res) || !(h instanceof Float32Array)) return false;
  const rt = wasmRuntime(),
    at = placed(rt, [x, h]);
  if (!at) return false;
  const [xp, hp] = at.ptrs as [number, number],
    out = res.byteOffset,
    e = epsBits(eps);
  const units = rowUnits(rt, "norm_grad", rows, cols, (r0, r1) => [
    out + 4 * r0 * cols,
    xp + 4 * r0 * cols,
    hp + 4 * r0 * cols,
    r1 - r0,
    cols,
    e,
    center ? 1 : 0,
  ]);
  run(rt, units, rows * cols, at.blocks);
  return true;
}

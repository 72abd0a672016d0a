/**
 * float32 elementwise ops and row reductions on the Wasm SIMD kernels
 * (elementwise-module.ts), split into units of ~64K elements that every
 * thread claims. Operands are used in place when they live in the Wasm heap
 * (cpu buffers do); small ones that do not (a scalar, a [rows, 1] statistic)
 * are copied in. Each entry point returns false, leaving the op to the JS
 * kernels, when the op, dtypes or placement do not fit.
 */
import type { StorageArray } from "../../../tensor/dtype.js";
import { broadcastStrides, collapse, sizeOf } from "../../../tensor/shape.js";
import type { BufferRef, OutSpec } from "../../backend.js";
import { WASM_BINARY, WASM_UNARY } from "./elementwise-module.js";
import { inWasmMemory, type Block } from "./heap.js";
import { wasmEnabled, wasmRuntime, type WasmRuntime } from "./runtime.js";
import type { Unit } from "./threads.js";

type Ref = BufferRef<StorageArray>;

/**
 * Below this many elements the JS loop wins (no unit table); from here on the
 * Wasm kernel is faster even on one thread (measured: a 1024-element mul
 * costs the same either way, a 4096-element one 3x less, exp 2.5x less).
 */
export const MIN_ELEMENTS = 1 << 10;
/** From this many elements on, all threads take part. */
const PARALLEL_ELEMENTS = 1 << 17;
/** Elements per unit. */
export const UNIT = 1 << 16;
/** Inputs outside the Wasm heap up to this many elements are copied in. */
const STAGE_MAX = 1 << 20;

/** Byte addresses of the operands in Wasm memory, staging small outside ones; null if one is too big to stage. */
export function place(rt: WasmRuntime, bufs: readonly StorageArray[], blocks: Block[]): number[] | null {
  const ptrs: number[] = [];
  for (const buf of bufs) {
    if (inWasmMemory(buf)) {
      ptrs.push(buf.byteOffset);
      continue;
    }
    if (buf.length > STAGE_MAX) return null;
    const block = rt.heap.alloc(Math.max(4, buf.byteLength), true)!;
    blocks.push(block);
    new Uint8Array(rt.threads.memory.buffer, block.ptr, buf.byteLength).set(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
    ptrs.push(block.ptr);
  }
  return ptrs;
}

/**
 * Visit every index of `shape` (row-major) with its offset along each of
 * `strides` (arrays over at least `shape`'s axes) and its ordinal: the
 * odometer over the outer axes of a collapsed strided job.
 */
export function forEachIndex(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
  visit: (offsets: readonly number[], ordinal: number) => void,
): void {
  const idx = shape.map(() => 0),
    offs = strides.map(() => 0);
  for (let i = 0, count = sizeOf(shape); i < count; i++) {
    visit(offs, i);
    for (let d = shape.length - 1; d >= 0; d--) {
      for (let k = 0; k < offs.length; k++) offs[k]! += strides[k]![d]!;
      if (++idx[d]! < shape[d]!) break;
      for (let k = 0; k < offs.length; k++) offs[k]! -= strides[k]![d]! * shape[d]!;
      idx[d] = 0;
    }
  }
}

/** Run the units over n elements, then `after` (reading staged results), then free the staging. */
export function run(rt: WasmRuntime, units: Unit[], n: number, blocks: Block[], after?: () => void): void {
  try {
    rt.threads.runUnits(rt.heap, units, n >= PARALLEL_ELEMENTS);
    after?.();
  } finally {
    for (const b of blocks) rt.heap.free(b);
  }
}

/** Rows [r0, r1) of `rows` in chunks of about UNIT elements. */
export function* rowChunks(rows: number, cols: number): Generator<[number, number]> {
  const step = Math.max(1, Math.floor(UNIT / Math.max(1, cols)));
  for (let r = 0; r < rows; r += step) yield [r, Math.min(rows, r + step)];
}

/** Run elementwise op `name` into `res` on the Wasm kernels if it fits them. */
export function wasmElementwise(name: string, inputs: readonly Ref[], out: OutSpec, res: StorageArray): boolean {
  const n = res.length;
  if (n < MIN_ELEMENTS || out.dtype !== "float32" || !inWasmMemory(res)) return false;
  const isWhere = name === "where";
  if (
    isWhere
      ? inputs[0]!.dtype !== "bool" || inputs[1]!.dtype !== "float32" || inputs[2]!.dtype !== "float32"
      : !inputs.every((x) => x.dtype === "float32")
  )
    return false;
  const unary = inputs.length === 1 && WASM_UNARY.includes(name);
  if (!unary && !isWhere && !(inputs.length === 2 && WASM_BINARY[name])) return false;
  const rt = wasmRuntime(),
    blocks: Block[] = [];
  const ptrs = place(
    rt,
    inputs.map((x) => x.buf),
    blocks,
  );
  if (!ptrs) {
    for (const b of blocks) rt.heap.free(b);
    return false;
  }
  const out0 = res.byteOffset,
    units: Unit[] = [];
  if (unary) {
    const kernel = rt.threads.kernel("ew.f32", `un_${name}`);
    for (let j = 0; j < n; j += UNIT) units.push({ kernel, args: [out0 + 4 * j, ptrs[0]! + 4 * j, Math.min(UNIT, n - j)] });
  } else {
    const kernel = rt.threads.kernel("ew.f32", isWhere ? "where" : `bin_${name}`);
    const width = inputs.map((x) => (x.dtype === "bool" ? 1 : 4));
    const { shape, strides } = collapse(
      out.shape,
      inputs.map((x) => broadcastStrides(x.shape, out.shape)),
    );
    const r = shape.length;
    // as rows x cols: the last collapsed dim is the row, the one before it (if any) counts rows, the rest are outer
    const cols = shape[r - 1]!,
      rows = r >= 2 ? shape[r - 2]! : 1;
    const colStride = strides.map((s) => s[r - 1]!),
      rowStride = strides.map((s) => (r >= 2 ? s[r - 2]! : 0));
    // the same pieces (a column range of a rank-1 run, else a row range) repeat for every outer index
    const pieces: { rows: number; cols: number; out: number; shift: (k: number) => number }[] = [];
    if (r === 1)
      for (let j = 0; j < cols; j += UNIT)
        pieces.push({ rows: 1, cols: Math.min(UNIT, cols - j), out: j, shift: (k) => j * colStride[k]! });
    else
      for (const [a0, a1] of rowChunks(rows, cols)) pieces.push({ rows: a1 - a0, cols, out: a0 * cols, shift: (k) => a0 * rowStride[k]! });
    const outer = shape.slice(0, Math.max(0, r - 2));
    forEachIndex(outer, strides, (offs, i) => {
      const o = i * rows * cols;
      for (const p of pieces) {
        const at = (k: number) => ptrs[k]! + (offs[k]! + p.shift(k)) * width[k]!;
        const outAt = out0 + 4 * (o + p.out);
        units.push({
          kernel,
          args: isWhere
            ? [
                outAt,
                at(0),
                at(1),
                at(2),
                p.rows,
                p.cols,
                rowStride[0]!,
                colStride[0]!,
                rowStride[1]!,
                colStride[1]!,
                rowStride[2]!,
                colStride[2]!,
              ]
            : [outAt, at(0), at(1), p.rows, p.cols, rowStride[0]!, colStride[0]!, rowStride[1]!, colStride[1]!],
        });
      }
    });
  }
  run(rt, units, n, blocks);
  return true;
}

/**
 * A float32 reduction of `data` into the `outLen` values of `res` on the
 * Wasm kernels, if it fits them: `units(dataPtr, resPtr)` cuts the job, and
 * a `res` outside the Wasm heap is staged and copied back.
 */
function reduceInto(data: StorageArray, res: StorageArray, outLen: number, units: (dataPtr: number, resPtr: number) => Unit[]): boolean {
  if (!wasmEnabled || !(data instanceof Float32Array) || !(res instanceof Float32Array) || data.length < MIN_ELEMENTS || outLen === 0)
    return false;
  const rt = wasmRuntime(),
    blocks: Block[] = [];
  const ptrs = place(rt, [data, res], blocks);
  if (!ptrs) {
    for (const b of blocks) rt.heap.free(b);
    return false;
  }
  run(
    rt,
    units(ptrs[0]!, ptrs[1]!),
    data.length,
    blocks,
    inWasmMemory(res) ? undefined : () => res.set(new Float32Array(rt.threads.memory.buffer, ptrs[1]!, outLen)),
  );
  return true;
}

/** Sum or max of each contiguous row of a float32 array into `res` on the Wasm kernels, if it fits them. */
export function wasmRowReduce(kind: "rowsum" | "rowmax", data: StorageArray, rows: number, len: number, res: StorageArray): boolean {
  if (len === 0) return false;
  return reduceInto(data, res, rows, (x, out) => {
    const kernel = wasmRuntime().threads.kernel("ew.f32", kind),
      units: Unit[] = [];
    for (const [r0, r1] of rowChunks(rows, len)) units.push({ kernel, args: [out + 4 * r0, x + 4 * r0 * len, r1 - r0, len] });
    return units;
  });
}

/**
 * Column sums of each of the `outer` float32 [rows, cols] slabs of `data`
 * into `res` ([outer, cols]) on the Wasm kernels, if it fits them: each unit
 * takes a band of one slab's columns, summed in float64 in its thread's
 * scratch.
 */
export function wasmColSum(data: StorageArray, outer: number, rows: number, cols: number, res: StorageArray): boolean {
  return reduceInto(data, res, outer * cols, (x, out) => {
    const threads = wasmRuntime().threads;
    const perThread =
      outer * rows * cols >= PARALLEL_ELEMENTS && outer < threads.threads ? 2 * Math.ceil(cols / (2 * threads.threads)) : cols;
    const band = Math.max(2, Math.min(Math.floor(threads.scratchBytes / 8), perThread));
    const kernel = threads.kernel("ew.f32", "colsum"),
      units: Unit[] = [];
    for (let o = 0; o < outer; o++) {
      const xo = x + 4 * o * rows * cols,
        oo = out + 4 * o * cols;
      for (let c = 0; c < cols; c += band) units.push({ kernel, args: [oo + 4 * c, xo + 4 * c, rows, Math.min(band, cols - c), cols] });
    }
    return units;
  });
}

/** CPU kernels on typed arrays, one per primitive name. */
import type { BufferRef, KernelTable, OutSpec } from "../backend.js";
import {
  allocArray,
  fromBFloat16Bits,
  fromFloat16Bits,
  toBFloat16Bits,
  toFloat16Bits,
  type DType,
  type StorageArray,
} from "../../tensor/dtype.js";
import { AnchorError } from "../../tensor/errors.js";
import { broadcastStrides, sizeOf, stridesOf, type Shape } from "../../tensor/shape.js";
import { BINARY, UNARY, type BinaryName, type KernelPrim, type ParamsOf, type UnaryName } from "../../prims/index.js";
import { copyStrided } from "./strided.js";
import { matmul } from "./matmul.js";
import { specializedKernel } from "./specialize.js";
import { shareBuffer, takeBuffer } from "./pool.js";
import { wasmColSum, wasmRowReduce } from "./wasm/elementwise.js";
import { layerNorm, logSoftmax, logsumexp, normGrad, rmsNorm, softmax, softmaxGrad } from "./rows.js";

type Ref = BufferRef<StorageArray>;
/** The cpu kernel of primitive N. */
type CpuKernel<N extends KernelPrim> = (inputs: readonly Ref[], params: ParamsOf<N>, out: OutSpec) => StorageArray;

/** The output buffer; `filled`: the kernel writes every element (no zeroing needed). */
const alloc = (out: OutSpec, filled = false) => takeBuffer(out.dtype, sizeOf(out.shape), filled);

const decode: Partial<Record<DType, (h: number) => number>> = { float16: fromFloat16Bits, bfloat16: fromBFloat16Bits };
const encode: Partial<Record<DType, (x: number) => number>> = { float16: toFloat16Bits, bfloat16: toBFloat16Bits };

const cast: CpuKernel<"cast"> = ([x], _p, out) => {
  const X = x!.buf,
    res = alloc(out, true);
  const dec = decode[x!.dtype],
    enc = encode[out.dtype];
  const toInt = out.dtype === "int32",
    toBool = out.dtype === "bool";
  for (let i = 0; i < res.length; i++) {
    const v = dec ? dec(X[i]!) : X[i]!;
    res[i] = enc ? enc(v) : toBool ? +(v !== 0) : toInt ? Math.trunc(v) : v;
  }
  return res;
};

/** Move the `axes` of x to the end (contiguous copy) so reductions run over rows. */
function rowsOver(x: Ref, axes: readonly number[]): { data: StorageArray; rows: number; len: number } {
  const r = x.shape.length;
  const kept = [...Array(r).keys()].filter((i) => !axes.includes(i));
  const perm = [...kept, ...axes];
  const len = axes.reduce((n, a) => n * x.shape[a]!, 1);
  const rows = len === 0 ? sizeOf(kept.map((k) => x.shape[k]!)) : sizeOf(x.shape) / len;
  if (perm.every((p, i) => p === i)) return { data: x.buf, rows, len };
  const st = stridesOf(x.shape);
  const shape = perm.map((p) => x.shape[p]!);
  const data = allocArray(x.dtype, sizeOf(x.shape));
  copyStrided(
    x.buf,
    0,
    perm.map((p) => st[p]!),
    data,
    0,
    stridesOf(shape),
    shape,
  );
  return { data, rows, len };
}

/**
 * Sum over one block of consecutive axes that the last axis is not in (a
 * bias's gradient, any unbroadcast over the batch or over grouped heads):
 * column sums of each [rows, cols] slab, with no transposed copy and a
 * row-major walk of x, in the order the row sums would add.
 */
function sumBlock(x: Ref, start: number, count: number, res: StorageArray): void {
  const outer = sizeOf(x.shape.slice(0, start)),
    rows = sizeOf(x.shape.slice(start, start + count)),
    cols = sizeOf(x.shape.slice(start + count)),
    X = x.buf;
  if (wasmColSum(X, outer, rows, cols, res)) return;
  const acc = new Float64Array(cols);
  for (let o = 0; o < outer; o++) {
    acc.fill(0);
    for (let r = 0, base = o * rows * cols; r < rows; r++) {
      for (let j = 0, i = base + r * cols; j < cols; j++) acc[j] += X[i + j]!;
    }
    res.set(acc, o * cols);
  }
}

const sum: CpuKernel<"sum"> = ([x], { axes }, out) => {
  const a = axes as number[];
  if (a.length > 0 && a.every((v, i) => v === a[0]! + i) && a[a.length - 1]! < x!.shape.length - 1) {
    const res = alloc(out, true);
    sumBlock(x!, a[0]!, a.length, res);
    return res;
  }
  const { data, rows, len } = rowsOver(x!, axes),
    res = alloc(out, true);
  if (wasmRowReduce("rowsum", data, rows, len, res)) return res;
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = r * len, e = j + len; j < e; j++) s += data[j]!;
    res[r] = s;
  }
  return res;
};

const max: CpuKernel<"max"> = ([x], { axes }, out) => {
  const { data, rows, len } = rowsOver(x!, axes),
    res = alloc(out, true);
  if (wasmRowReduce("rowmax", data, rows, len, res)) return res;
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let j = r * len, e = j + len; j < e; j++) {
      const v = data[j]!;
      if (v > m || v !== v) m = v;
      if (m !== m) break;
    }
    res[r] = m;
  }
  return res;
};

const argmax: CpuKernel<"argmax"> = ([x], { axis }, out) => {
  const { data, rows, len } = rowsOver(x!, [axis]),
    res = alloc(out, true);
  for (let r = 0; r < rows; r++) {
    let best = 0,
      m = data[r * len]!;
    for (let j = 1; j < len; j++) {
      const v = data[r * len + j]!;
      if (v > m || (v !== v && m === m)) {
        m = v;
        best = j;
      }
    }
    res[r] = best;
  }
  return res;
};

function stridedView(x: Ref, out: OutSpec, strides: readonly number[], base = 0): StorageArray {
  const res = alloc(out, true);
  copyStrided(x.buf, base, strides, res, 0, stridesOf(out.shape), out.shape);
  return res;
}

/** Row-major order is unchanged by a reshape, so the output is the input's buffer, shared. */
const reshape: CpuKernel<"reshape"> = ([x]) => shareBuffer(x!.buf);
const transpose: CpuKernel<"transpose"> = ([x], { perm }, out) => {
  const st = stridesOf(x!.shape);
  return stridedView(
    x!,
    out,
    (perm as number[]).map((p) => st[p]!),
  );
};
const broadcastTo: CpuKernel<"broadcastTo"> = ([x], _p, out) => stridedView(x!, out, broadcastStrides(x!.shape, out.shape));
const slice: CpuKernel<"slice"> = ([x], { starts }, out) => {
  const st = stridesOf(x!.shape);
  return stridedView(
    x!,
    out,
    st,
    (starts as number[]).reduce((o, s, i) => o + s * st[i]!, 0),
  );
};
const pad: CpuKernel<"pad"> = ([x], { widths }, out) => {
  const res = alloc(out),
    st = stridesOf(out.shape);
  const base = (widths as [number, number][]).reduce((o, w, i) => o + w[0] * st[i]!, 0);
  copyStrided(x!.buf, 0, stridesOf(x!.shape), res, base, st, x!.shape);
  return res;
};
const concat: CpuKernel<"concat"> = (xs, { axis }, out) => {
  const res = alloc(out, true),
    st = stridesOf(out.shape);
  let off = 0;
  for (const x of xs) {
    copyStrided(x.buf, 0, stridesOf(x.shape), res, off * st[axis]!, st, x.shape);
    off += x.shape[axis]!;
  }
  return res;
};

function checkIndex(op: string, v: number, d: number, at: number): void {
  if (v < 0 || v >= d) throw new AnchorError(`${op}: index ${v} at position ${at} is out of range for an axis of size ${d}`);
}

/** pre × [D] × post  ->  pre × [Q indices] × post */
function gatherGeometry(shape: Shape, axis: number) {
  return { pre: sizeOf(shape.slice(0, axis)), D: shape[axis]!, post: sizeOf(shape.slice(axis + 1)) };
}

const gather: CpuKernel<"gather"> = ([x, idx], { axis }, out) => {
  const { pre, D, post } = gatherGeometry(x!.shape, axis),
    I = idx!.buf,
    Q = I.length,
    X = x!.buf;
  const res = alloc(out, true);
  for (let q = 0; q < Q; q++) checkIndex("gather", I[q]!, D, q);
  for (let p = 0; p < pre; p++) {
    for (let q = 0; q < Q; q++) {
      const src = (p * D + I[q]!) * post,
        dst = (p * Q + q) * post;
      for (let j = 0; j < post; j++) res[dst + j] = X[src + j]!;
    }
  }
  return res;
};

const scatterAdd: CpuKernel<"scatterAdd"> = ([u, idx], { axis }, out) => {
  const { pre, D, post } = gatherGeometry(out.shape, axis),
    I = idx!.buf,
    Q = I.length,
    U = u!.buf;
  const res = alloc(out);
  for (let q = 0; q < Q; q++) checkIndex("scatterAdd", I[q]!, D, q);
  for (let p = 0; p < pre; p++) {
    for (let q = 0; q < Q; q++) {
      const dst = (p * D + I[q]!) * post,
        src = (p * Q + q) * post;
      for (let j = 0; j < post; j++) res[dst + j] = res[dst + j]! + U[src + j]!;
    }
  }
  return res;
};

/** One kernel per primitive; the elementwise ones are specialized from the pointwise rows. */
export const cpuKernels: KernelTable<StorageArray> = {
  ...(Object.fromEntries(UNARY.map((r) => [r.name, specializedKernel(r.name, r.js)])) as { [N in UnaryName]: CpuKernel<N> }),
  ...(Object.fromEntries(BINARY.map((r) => [r.name, specializedKernel(r.name, r.js)])) as { [N in BinaryName]: CpuKernel<N> }),
  where: specializedKernel("where", (c, a, b) => (c ? a : b)),
  cast,
  sum,
  max,
  argmax,
  reshape,
  transpose,
  broadcastTo,
  slice,
  pad,
  concat,
  gather,
  scatterAdd,
  matmul,
  logsumexp,
  softmax,
  softmaxGrad,
  logSoftmax,
  layerNorm,
  rmsNorm,
  normGrad,
};

/**
 * CPU kernels of the fused row primitives (ops/rows.ts), over the last axis
 * of a contiguous input viewed as [rows, cols]. Large float32 inputs run on
 * the threaded Wasm SIMD kernels (wasm/rows.ts); everything else (float64,
 * small inputs, ANCHORGRAD_WASM=0) runs the loops here, which compute in
 * float64 and round once into the output.
 *
 * Every exponential is of x minus the row's shift: its max, or 0 when no
 * entry is above -inf, so an all -inf (or empty) row has logsumexp -inf
 * rather than NaN; softmax of such a row is 0/0 = NaN, as in PyTorch.
 */
import type { BufferRef, OutSpec } from "../backend.js";
import type { StorageArray } from "../../tensor/dtype.js";
import { sizeOf } from "../../tensor/shape.js";
import type { NormGradParams, NormParams } from "../../prims/index.js";
import { takeBuffer } from "./pool.js";
import { wasmLogsumexp, wasmNorm, wasmNormGrad, wasmSoftmax, wasmSoftmaxGrad, wasmSubtractRows } from "./wasm/rows.js";

type Ref = BufferRef<StorageArray>;
type CpuKernel<P = unknown> = (inputs: readonly Ref[], params: P, out: OutSpec) => StorageArray;

/** The input as rows of its last axis. */
function rowsOf(x: Ref): { X: StorageArray; rows: number; cols: number } {
  const cols = x.shape[x.shape.length - 1]!;
  return { X: x.buf, rows: cols === 0 ? sizeOf(x.shape.slice(0, -1)) : x.buf.length / cols, cols };
}

/** The max of X[o, o + n), or 0 when nothing there is above -inf (NaN is skipped; the sums carry it). */
function rowShift(X: StorageArray, o: number, n: number): number {
  let m = -Infinity;
  for (let j = o, e = o + n; j < e; j++) if (X[j]! > m) m = X[j]!;
  return m === -Infinity ? 0 : m;
}

function rowLogsumexp(X: StorageArray, o: number, n: number): number {
  const m = rowShift(X, o, n);
  let s = 0;
  for (let j = o, e = o + n; j < e; j++) s += Math.exp(X[j]! - m);
  return m + Math.log(s);
}

/** logsumexp of every row, in float64. */
function logsumexpRows(X: StorageArray, rows: number, cols: number): Float64Array {
  const lse = wasmLogsumexp(X, rows, cols);
  if (lse) return lse;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) out[r] = rowLogsumexp(X, r * cols, cols);
  return out;
}

export const logsumexp: CpuKernel = ([x], _p, out) => {
  const { X, rows, cols } = rowsOf(x!),
    res = takeBuffer(out.dtype, rows, true);
  res.set(logsumexpRows(X, rows, cols));
  return res;
};

export const logSoftmax: CpuKernel = ([x], _p, out) => {
  const { X, rows, cols } = rowsOf(x!),
    res = takeBuffer(out.dtype, X.length, true);
  const lse = logsumexpRows(X, rows, cols);
  if (wasmSubtractRows(X, lse, rows, cols, res)) return res;
  for (let r = 0; r < rows; r++) {
    const l = lse[r]!;
    for (let j = r * cols, e = j + cols; j < e; j++) res[j] = X[j]! - l;
  }
  return res;
};

export const softmax: CpuKernel = ([x], _p, out) => {
  const { X, rows, cols } = rowsOf(x!),
    res = takeBuffer(out.dtype, X.length, true);
  if (wasmSoftmax(X, rows, cols, res)) return res;
  for (let r = 0; r < rows; r++) {
    const o = r * cols,
      e = o + cols,
      m = rowShift(X, o, cols);
    let s = 0;
    for (let j = o; j < e; j++) {
      const v = Math.exp(X[j]! - m);
      res[j] = v;
      s += v;
    }
    const inv = 1 / s;
    for (let j = o; j < e; j++) res[j] = res[j]! * inv;
  }
  return res;
};

export const softmaxGrad: CpuKernel = ([y, g], _p, out) => {
  const { X: Y, rows, cols } = rowsOf(y!),
    G = g!.buf,
    res = takeBuffer(out.dtype, Y.length, true);
  if (wasmSoftmaxGrad(Y, G, rows, cols, res)) return res;
  for (let r = 0; r < rows; r++) {
    const o = r * cols,
      e = o + cols;
    let s = 0;
    for (let j = o; j < e; j++) s += Y[j]! * G[j]!;
    for (let j = o; j < e; j++) res[j] = Y[j]! * (G[j]! - s);
  }
  return res;
};

/** The affine inputs of a norm primitive by role. */
function affineOf(inputs: readonly Ref[], p: NormParams): { W: StorageArray | null; B: StorageArray | null } {
  return { W: p.weight ? inputs[1]!.buf : null, B: p.bias ? inputs[p.weight ? 2 : 1]!.buf : null };
}

/** out = (x − shift)·scale·W + B over row [o, o + n) (W, B indexed by column). */
function writeNormalized(
  X: StorageArray,
  res: StorageArray,
  o: number,
  n: number,
  shift: number,
  scale: number,
  W: StorageArray | null,
  B: StorageArray | null,
): void {
  for (let j = 0; j < n; j++) {
    let y = (X[o + j]! - shift) * scale;
    if (W) y *= W[j]!;
    if (B) y += B[j]!;
    res[o + j] = y;
  }
}

export const layerNorm: CpuKernel<NormParams> = (inputs, p, out) => {
  const { X, rows, cols } = rowsOf(inputs[0]!),
    res = takeBuffer(out.dtype, X.length, true);
  const { W, B } = affineOf(inputs, p);
  if (wasmNorm("layernorm", X, W, B, rows, cols, p.eps, res)) return res;
  for (let r = 0; r < rows; r++) {
    const o = r * cols,
      e = o + cols;
    let s = 0;
    for (let j = o; j < e; j++) s += X[j]!;
    const mu = s / cols;
    let ss = 0;
    for (let j = o; j < e; j++) {
      const d = X[j]! - mu;
      ss += d * d;
    }
    writeNormalized(X, res, o, cols, mu, 1 / Math.sqrt(ss / cols + p.eps), W, B);
  }
  return res;
};

export const rmsNorm: CpuKernel<NormParams> = (inputs, p, out) => {
  const { X, rows, cols } = rowsOf(inputs[0]!),
    res = takeBuffer(out.dtype, X.length, true);
  const { W } = affineOf(inputs, p);
  if (wasmNorm("rmsnorm", X, W, null, rows, cols, p.eps, res)) return res;
  for (let r = 0; r < rows; r++) {
    const o = r * cols,
      e = o + cols;
    let ss = 0;
    for (let j = o; j < e; j++) ss += X[j]! * X[j]!;
    writeNormalized(X, res, o, cols, 0, 1 / Math.sqrt(ss / cols + p.eps), W, null);
  }
  return res;
};

/**
 * ∂x of layerNorm (center) or rmsNorm per row: r·(h − mean(h) − x̂·mean(h·x̂)),
 * from the row's statistics recomputed here (two passes, as the forward).
 */
export const normGrad: CpuKernel<NormGradParams> = ([x, h], p, out) => {
  const { X, rows, cols } = rowsOf(x!),
    H = h!.buf,
    res = takeBuffer(out.dtype, X.length, true);
  if (wasmNormGrad(X, H, rows, cols, p.eps, p.center, res)) return res;
  for (let r = 0; r < rows; r++) {
    const o = r * cols,
      e = o + cols;
    let mu = 0;
    if (p.center) {
      for (let j = o; j < e; j++) mu += X[j]!;
      mu /= cols;
    }
    let ss = 0,
      sh = 0,
      shx = 0;
    for (let j = o; j < e; j++) {
      const d = X[j]! - mu;
      ss += d * d;
      sh += H[j]!;
      shx += H[j]! * d;
    }
    const scale = 1 / Math.sqrt(ss / cols + p.eps);
    const mh = p.center ? sh / cols : 0,
      k = (shx / cols) * scale * scale; // mean(h·x̂)·r
    for (let j = o; j < e; j++) res[j] = scale * (H[j]! - mh - (X[j]! - mu) * k);
  }
  return res;
};

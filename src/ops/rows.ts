/**
 * Fused row primitives: logsumexp, softmax (and its VJP, softmaxGrad),
 * logSoftmax, layerNorm and rmsNorm (and their input VJP, normGrad), each
 * over the last axis of its input.
 *
 * Each is one kernel per backend that reads a row, reduces it stably (the
 * row's max subtracted before exponentiating, the mean subtracted before
 * squaring) and writes the row's result, instead of the five to ten kernels
 * and temporaries its composite form costs. The VJP rules are written with
 * other ops, so every order of gradient works.
 *
 * The public functions take any axis (logsumexp any set of axes): they move
 * those axes last (a transpose, or a free reshape when the element order
 * allows), call the primitive, and move the result back.
 */
import { bind } from "../ir/trace.js";
import {
  floatInput,
  layerNormPrim,
  logSoftmaxPrim,
  logsumexpPrim,
  normGradPrim,
  rmsNormPrim,
  softmaxGradPrim,
  softmaxPrim,
  type NormGradParams,
} from "../prims/index.js";
import { normAxes, normAxis, sizeOf } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import { reducedShape, type Axis } from "./reduce.js";
import { reshape, transpose } from "./shape.js";

/** log(sum(exp(x))) over `axis` (one axis or several; the last by default), stable for any finite x and for -inf rows. */
export function logsumexp(x: Tensor, axis: Axis = -1, keepdims = false): Tensor {
  floatInput("logsumexp", x);
  const axes = normAxes(axis, x.ndim, "logsumexp");
  const kept = x.shape.filter((_, i) => !axes.includes(i));
  const rows = reshape(moveLast(x, axes), [...kept, sizeOf(axes.map((a) => x.shape[a]!))]);
  return reshape(bind(logsumexpPrim, [rows], {}), reducedShape(x.shape, axes, keepdims));
}

//** y·(g − Σ y·g) over the last axis: the VJP of softmax at output y for cotangent g. */
export const softmaxGrad = (y: Tensor, g: Tensor): Tensor => bind(softmaxGradPrim, [y, g], {});

/** Apply a last-axis row primitive along `axis`. */
function alongAxis(prim: typeof softmaxPrim | typeof logSoftmaxPrim, x: Tensor, axis: number): Tensor {
  floatInput(prim.name, x);
  const a = normAxis(axis, x.ndim, prim.name);
  const moved = moveLast(x, [a]);
  return moveBack(bind(prim, [moved], {}), x.shape, a);
}

export const softmax = (x: Tensor, axis = -1): Tensor => alongAxis(softmaxPrim, x, axis);
export const logSoftmax = (x: Tensor, axis = -1): Tensor => alongAxis(logSoftmaxPrim, x, axis);

// --- layerNorm and rmsNorm --------------------------------------------------------

/** The input cotangent of layerNorm (center) or rmsNorm at x for h = output cotangent · weight. */
export const normGrad = (x: Tensor, h: Tensor, p: NormGradParams): Tensor => bind(normGradPrim, [x, h], p);

/** LayerNorm over the last axis (biased variance), then scale and shift. */
export function layerNorm(x: Tensor, weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  floatInput("layerNorm", x);
  const affine = [weight, bias].filter((t): t is Tensor => !!t);
  return bind(layerNormPrim, [x, ...affine], { eps, weight: !!weight, bias: !!bias });
}

/** RMSNorm over the last axis: x / sqrt(mean(x²) + eps) · weight. */
export function rmsNorm(x: Tensor, weight?: Tensor | null, eps = 1e-6): Tensor {
  floatInput("rmsNorm", x);
  return bind(rmsNormPrim, weight ? [x, weight] : [x], { eps, weight: !!weight, bias: false });
}

// --- moving axes last and back -----------------------------------------------------

/**
 * x with `axes` (sorted) moved to the end, in order. A reshape when only
 * size-1 axes change places (the element order is the same), else a transpose.
 */
function moveLast(x: Tensor, axes: readonly number[]): Tensor {
  const perm = [...[...Array(x.ndim).keys()].filter((i) => !axes.includes(i)), ...axes];
  const order = perm.filter((p) => x.shape[p] !== 1);
  if (order.every((p, i) => i === 0 || p > order[i - 1]!))
    return reshape(
      x,
      perm.map((p) => x.shape[p]!),
    );
  return transpose(x, perm);
}

/** Undo moveLast(·, [axis]) on a result of the moved shape. */
function moveBack(y: Tensor, shape: readonly number[], axis: number): Tensor {
  const r = shape.length;
  const perm = [...Array(r).keys()].filter((i) => i !== axis).concat(axis); // moved axis k came from perm[k]
  const inv = new Array<number>(r);
  perm.forEach((p, k) => (inv[p] = k));
  const order = perm.filter((p) => shape[p] !== 1);
  if (order.every((p, i) => i === 0 || p > order[i - 1]!)) return reshape(y, shape);
  return transpose(y, inv);
}

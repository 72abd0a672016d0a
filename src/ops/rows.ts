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
  type Abstract,
  type NormGradParams,
  type NormParams,
} from "../prims/index.js";
import { normAxes, normAxis, sizeOf } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import { add, equal, exp, mul, rsqrt, sub, where } from "./elementwise.js";
import { mean, reducedShape, sum, type Axis } from "./reduce.js";
import { reshape, transpose } from "./shape.js";
import { defineVjp } from "./vjp.js";

/** The leading axes of x (all but the last): weight and bias gradients sum over them. */
const leadingAxes = (x: Abstract): number[] => [...Array(x.shape.length - 1).keys()];

/** A per-row statistic [..., 1] that broadcasts against the rows. */
const perRow = (t: Tensor): Tensor => reshape(t, [...t.shape, 1]);

// --- logsumexp ----------------------------------------------------------------

// ∂/∂x = softmax(x) = exp(x − out); a -inf row (out = -inf) takes no gradient rather than NaN
defineVjp(logsumexpPrim, (g, [x], out) => {
  const lse = perRow(out);
  return [mul(perRow(g), exp(sub(x!, where(equal(lse, -Infinity), 0, lse))))];
});

/** log(sum(exp(x))) over `axis` (one axis or several; the last by default), stable for any finite x and for -inf rows. */
export function logsumexp(x: Tensor, axis: Axis = -1, keepdims = false): Tensor {
  floatInput("logsumexp", x);
  const axes = normAxes(axis, x.ndim, "logsumexp");
  const kept = x.shape.filter((_, i) => !axes.includes(i));
  const rows = reshape(moveLast(x, axes), [...kept, sizeOf(axes.map((a) => x.shape[a]!))]);
  return reshape(bind(logsumexpPrim, [rows], {}), reducedShape(x.shape, axes, keepdims));
}

// --- softmax and logSoftmax -----------------------------------------------------

defineVjp(softmaxPrim, (g, _x, y) => [softmaxGrad(y, g)]);

/**
 * softmax's VJP as one kernel: y·(g − Σ y·g) over the last axis, for the
 * softmax output y and its cotangent g (four elementwise and reduction
 * kernels otherwise, on attention's backward path). Its own VJP, for
 * cotangent c, is y·(c − Σ y·c) for g (the map is self-adjoint in g) and
 * c·(g − Σ y·g) − g·Σ y·c for y.
 */
defineVjp(softmaxGradPrim, (c, [y, g], _out, _p, wanted) => [
  wanted[0] ? sub(mul(c, sub(g!, sum(mul(y!, g!), -1, true))), mul(g!, sum(mul(y!, c), -1, true))) : null,
  wanted[1] ? softmaxGrad(y!, c) : null,
]);

/** y·(g − Σ y·g) over the last axis: the VJP of softmax at output y for cotangent g. */
export const softmaxGrad = (y: Tensor, g: Tensor): Tensor => bind(softmaxGradPrim, [y, g], {});

// g − softmax·Σ g, with softmax = exp(out)
defineVjp(logSoftmaxPrim, (g, _x, out) => [sub(g, mul(exp(out), sum(g, -1, true)))]);

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

/**
 * (x − mean)·rsqrt(var + eps)·weight + bias over the last axis, with the
 * biased variance. Backward: with x̂ the normalised row and h = g·weight,
 * ∂x = normGrad(x, h) (one kernel), ∂weight = Σ g·x̂, ∂bias = Σ g over the
 * leading axes (x̂ recomputed by the forward kernel without the affine).
 */
defineVjp(layerNormPrim, (g, inputs, _out, p, wanted) => normVjp(layerNormPrim, true, g, inputs, p, wanted));

/**
 * x·rsqrt(mean(x²) + eps)·weight over the last axis. Backward as for
 * layerNorm, without the centring.
 */
defineVjp(rmsNormPrim, (g, inputs, _out, p, wanted) => normVjp(rmsNormPrim, false, g, inputs, p, wanted));

function normVjp(
  prim: typeof layerNormPrim | typeof rmsNormPrim,
  center: boolean,
  g: Tensor,
  [x, ...affine]: readonly Tensor[],
  p: NormParams,
  wanted: readonly boolean[],
): (Tensor | null)[] {
  const w = p.weight ? affine[0]! : null;
  const gx = wanted[0] ? normGrad(x!, w ? mul(g, w) : g, { eps: p.eps, center }) : null;
  const lead = leadingAxes(x!);
  const gw = w && wanted[1] ? sum(mul(g, bind(prim, [x!], { eps: p.eps, weight: false, bias: false })), lead) : null;
  const gb = p.bias && wanted[affine.length] ? sum(g, lead) : null;
  return [gx, ...(w ? [gw] : []), ...(p.bias ? [gb] : [])];
}

/**
 * The input cotangent of layerNorm (center) or rmsNorm without affine, as
 * one kernel: with x̂ the normalised row, r = rsqrt(var + eps) (rmsNorm: of
 * mean(x²)) and h the output cotangent times the weight,
 *   ∂x = r·(h − mean(h) − x̂·mean(h·x̂))      (rmsNorm: no mean(h) term).
 * Its own VJP, for cotangent c: the map h ↦ ∂x is r·P·h with P symmetric,
 * so ∂h = normGrad(x, c); and, with m = mean(h·x̂), s = mean(c·x̂) and the
 * means of h and c taken as 0 for rmsNorm,
 *   ∂x = r²·(3·x̂·m·s − x̂·(mean(c·h) − mean(h)·mean(c)) − (h − mean(h))·s − m·(c − mean(c))).
 */
defineVjp(normGradPrim, (c, [x, h], _out, p, wanted) => {
  const rowMean = (t: Tensor) => mean(t, -1, true);
  const centered = p.center ? sub(x!, rowMean(x!)) : x!;
  const r = rsqrt(add(rowMean(mul(centered, centered)), p.eps));
  const xhat = mul(centered, r);
  const [hc, cc] = p.center ? [sub(h!, rowMean(h!)), sub(c, rowMean(c))] : [h!, c];
  const m = rowMean(mul(h!, xhat)),
    s = rowMean(mul(c, xhat));
  const ch = p.center ? sub(rowMean(mul(c, h!)), mul(rowMean(h!), rowMean(c))) : rowMean(mul(c, h!));
  const dx = wanted[0] ? mul(mul(r, r), sub(sub(sub(mul(xhat, mul(mul(m, s), 3)), mul(xhat, ch)), mul(hc, s)), mul(m, cc))) : null;
  return [dx, wanted[1] ? normGrad(x!, c, p) : null];
});

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

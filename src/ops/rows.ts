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
import { definePrimitive, type Abstract, type Primitive } from "../autograd/primitive.js";
import { bind } from "../autograd/trace.js";
import { isFloat } from "../tensor/dtype.js";
import { DTypeError, ShapeError } from "../tensor/errors.js";
import { fmt, normAxes, normAxis, sizeOf } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import { add, equal, exp, mul, rsqrt, sub, where } from "./elementwise.js";
import { mean, reducedShape, sum, type Axis } from "./reduce.js";
import { reshape, transpose } from "./shape.js";

function floatInput(op: string, x: Abstract): void {
  if (!isFloat(x.dtype)) throw new DTypeError(`${op}: expected a float tensor, got ${x.dtype}`);
}

/** Shape-preserving row primitives: the output has the input's shape and dtype. */
function rowwise(op: string) {
  return ([x]: readonly Abstract[]) => {
    floatInput(op, x!);
    if (x!.shape.length === 0) throw new ShapeError(`${op}: expected at least one axis, got a scalar`);
    return { shape: x!.shape.slice(), dtype: x!.dtype };
  };
}

/** The leading axes of x (all but the last): weight and bias gradients sum over them. */
const leadingAxes = (x: Abstract): number[] => [...Array(x.shape.length - 1).keys()];

/** A per-row statistic [..., 1] that broadcasts against the rows. */
const perRow = (t: Tensor): Tensor => reshape(t, [...t.shape, 1]);

// --- logsumexp ----------------------------------------------------------------

/**
 * log Σ exp(x) over the last axis, [..., n] -> [...]. A row of -inf gives
 * -inf (not NaN), and so does an empty row (the log of an empty sum).
 */
export const logsumexpPrim = definePrimitive<Record<string, never>>({
  name: "logsumexp",
  infer([x]) {
    floatInput("logsumexp", x!);
    if (x!.shape.length === 0) throw new ShapeError("logsumexp: expected at least one axis, got a scalar");
    return { shape: x!.shape.slice(0, -1), dtype: x!.dtype };
  },
  // ∂/∂x = softmax(x) = exp(x − out); a -inf row (out = -inf) takes no gradient rather than NaN
  vjp(g, [x], out) {
    const lse = perRow(out);
    return [mul(perRow(g), exp(sub(x!, where(equal(lse, -Infinity), 0, lse))))];
  },
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

/** softmax over the last axis: exp(x − max) / Σ exp(x − max). */
export const softmaxPrim = definePrimitive<Record<string, never>>({
  name: "softmax",
  infer: rowwise("softmax"),
  vjp: (g, _x, y) => [softmaxGrad(y, g)],
});

/**
 * softmax's VJP as one kernel: y·(g − Σ y·g) over the last axis, for the
 * softmax output y and its cotangent g (four elementwise and reduction
 * kernels otherwise, on attention's backward path). Its own VJP, for
 * cotangent c, is y·(c − Σ y·c) for g (the map is self-adjoint in g) and
 * c·(g − Σ y·g) − g·Σ y·c for y.
 */
export const softmaxGradPrim = definePrimitive<Record<string, never>>({
  name: "softmaxGrad",
  infer([y, g]) {
    rowwise("softmaxGrad")([y!]);
    if (g!.dtype !== y!.dtype || g!.shape.length !== y!.shape.length || g!.shape.some((d, i) => d !== y!.shape[i])) {
      throw new ShapeError(
        `softmaxGrad: cotangent ${fmt(g!.shape)} ${g!.dtype} does not match the softmax output ${fmt(y!.shape)} ${y!.dtype}`,
      );
    }
    return { shape: y!.shape.slice(), dtype: y!.dtype };
  },
  vjp(c, [y, g], _out, _p, wanted) {
    return [
      wanted[0] ? sub(mul(c, sub(g!, sum(mul(y!, g!), -1, true))), mul(g!, sum(mul(y!, c), -1, true))) : null,
      wanted[1] ? softmaxGrad(y!, c) : null,
    ];
  },
});

/** y·(g − Σ y·g) over the last axis: the VJP of softmax at output y for cotangent g. */
export const softmaxGrad = (y: Tensor, g: Tensor): Tensor => bind(softmaxGradPrim, [y, g], {});

/** log softmax over the last axis: x − logsumexp(x). */
export const logSoftmaxPrim = definePrimitive<Record<string, never>>({
  name: "logSoftmax",
  infer: rowwise("logSoftmax"),
  // g − softmax·Σ g, with softmax = exp(out)
  vjp: (g, _x, out) => [sub(g, mul(exp(out), sum(g, -1, true)))],
});

/** Apply a last-axis row primitive along `axis`. */
function alongAxis(prim: typeof softmaxPrim, x: Tensor, axis: number): Tensor {
  floatInput(prim.name, x);
  const a = normAxis(axis, x.ndim, prim.name);
  const moved = moveLast(x, [a]);
  return moveBack(bind(prim, [moved], {}), x.shape, a);
}

export const softmax = (x: Tensor, axis = -1): Tensor => alongAxis(softmaxPrim, x, axis);
export const logSoftmax = (x: Tensor, axis = -1): Tensor => alongAxis(logSoftmaxPrim, x, axis);

// --- layerNorm and rmsNorm --------------------------------------------------------

export interface NormParams {
  readonly eps: number;
  /** Whether inputs[1] is a weight [n]. */
  readonly weight: boolean;
  /** Whether the last input is a bias [n] (layerNorm only). */
  readonly bias: boolean;
}

function normInfer(op: string) {
  return ([x, ...affine]: readonly Abstract[], p: NormParams) => {
    floatInput(op, x!);
    if (x!.shape.length === 0) throw new ShapeError(`${op}: expected at least one axis, got a scalar`);
    const names = [...(p.weight ? ["weight"] : []), ...(p.bias ? ["bias"] : [])];
    if (affine.length !== names.length) throw new ShapeError(`${op}: expected ${names.length + 1} inputs, got ${affine.length + 1}`);
    const d = x!.shape[x!.shape.length - 1]!;
    affine.forEach((t, i) => {
      if (t.shape.length !== 1 || t.shape[0] !== d)
        throw new ShapeError(`${op}: ${names[i]} ${fmt(t.shape)} does not match the last axis of ${fmt(x!.shape)}`);
      if (t.dtype !== x!.dtype) throw new DTypeError(`${op}: ${names[i]} is ${t.dtype} but x is ${x!.dtype}; cast one first`);
    });
    return { shape: x!.shape.slice(), dtype: x!.dtype };
  };
}

/**
 * (x − mean)·rsqrt(var + eps)·weight + bias over the last axis, with the
 * biased variance. Backward: with x̂ the normalised row and h = g·weight,
 * ∂x = normGrad(x, h) (one kernel), ∂weight = Σ g·x̂, ∂bias = Σ g over the
 * leading axes (x̂ recomputed by the forward kernel without the affine).
 */
export const layerNormPrim: Primitive<NormParams> = definePrimitive<NormParams>({
  name: "layerNorm",
  infer: normInfer("layerNorm"),
  vjp: (g, inputs, _out, p, wanted) => normVjp(layerNormPrim, true, g, inputs, p, wanted),
});

/**
 * x·rsqrt(mean(x²) + eps)·weight over the last axis. Backward as for
 * layerNorm, without the centring.
 */
export const rmsNormPrim: Primitive<NormParams> = definePrimitive<NormParams>({
  name: "rmsNorm",
  infer: normInfer("rmsNorm"),
  vjp: (g, inputs, _out, p, wanted) => normVjp(rmsNormPrim, false, g, inputs, p, wanted),
});

function normVjp(
  prim: Primitive<NormParams>,
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

export interface NormGradParams {
  readonly eps: number;
  /** layerNorm (subtract the row's mean) rather than rmsNorm. */
  readonly center: boolean;
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
export const normGradPrim = definePrimitive<NormGradParams>({
  name: "normGrad",
  infer([x, h]) {
    rowwise("normGrad")([x!]);
    if (h!.dtype !== x!.dtype || h!.shape.length !== x!.shape.length || h!.shape.some((d, i) => d !== x!.shape[i])) {
      throw new ShapeError(`normGrad: cotangent ${fmt(h!.shape)} ${h!.dtype} does not match the input ${fmt(x!.shape)} ${x!.dtype}`);
    }
    return { shape: x!.shape.slice(), dtype: x!.dtype };
  },
  vjp(c, [x, h], _out, p, wanted) {
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
  },
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

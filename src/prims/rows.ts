/**
 * Fused row primitives over the last axis: logsumexp, softmax (and its VJP,
 * softmaxGrad), logSoftmax, layerNorm and rmsNorm (and their input VJP,
 * normGrad). Each is one kernel per backend that reads a row, reduces it
 * stably and writes the row's result.
 */
import { isFloat } from "../tensor/dtype.js";
import { DTypeError, ShapeError } from "../tensor/errors.js";
import { fmt } from "../tensor/shape.js";
import type { NormParams } from "./params.js";
import { definePrimitive, type Abstract } from "./primitive.js";

export function floatInput(op: string, x: Abstract): void {
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

/** A row primitive of x and a second operand of x's exact shape and dtype (a cotangent). */
function rowwisePair(op: string, what: string, against: string) {
  return ([x, h]: readonly Abstract[]) => {
    rowwise(op)([x!]);
    if (h!.dtype !== x!.dtype || h!.shape.length !== x!.shape.length || h!.shape.some((d, i) => d !== x!.shape[i])) {
      throw new ShapeError(`${op}: ${what} ${fmt(h!.shape)} ${h!.dtype} does not match ${against} ${fmt(x!.shape)} ${x!.dtype}`);
    }
    return { shape: x!.shape.slice(), dtype: x!.dtype };
  };
}

/**
 * log Σ exp(x) over the last axis, [..., n] -> [...]. A row of -inf gives
 * -inf (not NaN), and so does an empty row (the log of an empty sum).
 */
export const logsumexpPrim = definePrimitive({
  name: "logsumexp",
  infer([x]) {
    floatInput("logsumexp", x!);
    if (x!.shape.length === 0) throw new ShapeError("logsumexp: expected at least one axis, got a scalar");
    return { shape: x!.shape.slice(0, -1), dtype: x!.dtype };
  },
});

/** softmax over the last axis: exp(x − max) / Σ exp(x − max). */
export const softmaxPrim = definePrimitive({ name: "softmax", infer: rowwise("softmax") });

/** y·(g − Σ y·g) over the last axis, for the softmax output y and its cotangent g. */
export const softmaxGradPrim = definePrimitive({
  name: "softmaxGrad",
  infer: rowwisePair("softmaxGrad", "cotangent", "the softmax output"),
});

/** log softmax over the last axis: x − logsumexp(x). */
export const logSoftmaxPrim = definePrimitive({ name: "logSoftmax", infer: rowwise("logSoftmax") });

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

/** (x − mean)·rsqrt(var + eps)·weight + bias over the last axis, with the biased variance. */
export const layerNormPrim = definePrimitive({ name: "layerNorm", infer: normInfer("layerNorm") });

/** x·rsqrt(mean(x²) + eps)·weight over the last axis. */
export const rmsNormPrim = definePrimitive({ name: "rmsNorm", infer: normInfer("rmsNorm") });

/** The input cotangent of layerNorm (center) or rmsNorm without affine, for x and h = cotangent · weight. */
export const normGradPrim = definePrimitive({
  name: "normGrad",
  infer: rowwisePair("normGrad", "cotangent", "the input"),
});

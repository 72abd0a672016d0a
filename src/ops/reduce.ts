/** Reductions over axes (sum, max, argmax primitives) and their composites (logsumexp is in rows.ts). */
import { definePrimitive, type Abstract } from "../autograd/primitive.js";
import { bind } from "../autograd/trace.js";
import { isFloat } from "../tensor/dtype.js";
import { DTypeError, ShapeError } from "../tensor/errors.js";
import { fmt, normAxes, normAxis } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import { cast } from "./cast.js";
import { div, equal, mul, neg } from "./elementwise.js";
import { broadcastTo, reshape } from "./shape.js";

export interface ReduceParams {
  /** Sorted, non-negative axes to reduce. */
  readonly axes: readonly number[];
  readonly keepdims: boolean;
}

export type Axis = number | readonly number[] | undefined;

export function reducedShape(shape: readonly number[], axes: readonly number[], keepdims: boolean): number[] {
  return keepdims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
}

function reduceInfer(name: string, needsNonEmpty: boolean) {
  return ([x]: readonly Abstract[], p: ReduceParams) => {
    if (x!.dtype === "bool") throw new DTypeError(`${name}: bool tensors are not numbers; cast first`);
    if (needsNonEmpty && p.axes.some((a) => x!.shape[a] === 0)) {
      throw new ShapeError(`${name}: cannot reduce an empty axis of ${fmt(x!.shape)} (no identity)`);
    }
    return { shape: reducedShape(x!.shape, p.axes, p.keepdims), dtype: x!.dtype };
  };
}

/** Expand a reduced cotangent back over the reduced axes. */
function expandBack(g: Tensor, x: Abstract, p: ReduceParams): Tensor {
  return broadcastTo(reshape(g, reducedShape(x.shape, p.axes, true)), x.shape);
}

export const sumPrim = definePrimitive<ReduceParams>({
  name: "sum",
  infer: reduceInfer("sum", false),
  vjp: (g, [x], _out, p) => [expandBack(g, x!, p)],
});

export const maxPrim = definePrimitive<ReduceParams>({
  name: "max",
  infer: reduceInfer("max", true),
  vjp(g, [x], out, p) {
    // the gradient is shared equally among tied maxima
    const mask = cast(equal(x!, expandBack(out, x!, p)), g.dtype);
    const count = sum(mask, p.axes, true);
    return [div(mul(mask, expandBack(g, x!, p)), count)];
  },
});

export const argmaxPrim = definePrimitive<{ axis: number; keepdims: boolean }>({
  name: "argmax",
  infer([x], { axis, keepdims }) {
    if (x!.shape[axis] === 0) throw new ShapeError(`argmax: axis ${axis} of ${fmt(x!.shape)} is empty`);
    return { shape: reducedShape(x!.shape, [axis], keepdims), dtype: "int32" };
  },
});

const params = (x: Tensor, axis: Axis, keepdims: boolean, op: string): ReduceParams => ({ axes: normAxes(axis, x.ndim, op), keepdims });

/** Sum over `axis` (all axes when undefined). */
export function sum(x: Tensor, axis?: Axis, keepdims = false): Tensor {
  return bind(sumPrim, [x], params(x, axis, keepdims, "sum"));
}

export function max(x: Tensor, axis?: Axis, keepdims = false): Tensor {
  return bind(maxPrim, [x], params(x, axis, keepdims, "max"));
}

export function min(x: Tensor, axis?: Axis, keepdims = false): Tensor {
  return neg(max(neg(x), axis, keepdims));
}

export function mean(x: Tensor, axis?: Axis, keepdims = false): Tensor {
  const p = params(x, axis, keepdims, "mean");
  if (!isFloat(x.dtype)) throw new DTypeError(`mean: expected a float tensor, got ${x.dtype}`);
  const count = p.axes.reduce((n, a) => n * x.shape[a]!, 1);
  return div(bind(sumPrim, [x], p), count);
}

/** Index of the largest value along one axis (first on ties), int32. */
export function argmax(x: Tensor, axis = -1, keepdims = false): Tensor {
  return bind(argmaxPrim, [x], { axis: normAxis(axis, x.ndim, "argmax"), keepdims });
}

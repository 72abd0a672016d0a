/** Reductions over axes (sum, max, argmax primitives) and their composites (logsumexp is in rows.ts). */
import { bind } from "../ir/trace.js";
import { argmaxPrim, maxPrim, reducedShape, sumPrim, type ReduceParams } from "../prims/index.js";
import { isFloat } from "../tensor/dtype.js";
import { DTypeError } from "../tensor/errors.js";
import { normAxes, normAxis } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import { div, neg } from "./elementwise.js";

export type Axis = number | readonly number[] | undefined;
export { reducedShape };

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

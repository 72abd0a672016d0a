/** gather / scatterAdd (each the other's VJP), take and oneHot. */
import { definePrimitive } from "../autograd/primitive.js";
import { bind } from "../autograd/trace.js";
import type { DType } from "../tensor/dtype.js";
import { DTypeError, ShapeError } from "../tensor/errors.js";
import { fmt, normAxis, sameShape } from "../tensor/shape.js";
import { arange } from "../tensor/create.js";
import type { Tensor } from "../tensor/tensor.js";
import { cast } from "./cast.js";
import { equal } from "./elementwise.js";
import { expandDims } from "./shape.js";

function checkIndices(op: string, idx: { dtype: DType }): void {
  if (idx.dtype !== "int32") throw new DTypeError(`${op}: indices must be int32, got ${idx.dtype}`);
}

/** out = x.shape[:axis] + indices.shape + x.shape[axis+1:]. */
export const gatherPrim = definePrimitive<{ axis: number }>({
  name: "gather",
  infer([x, idx], { axis }) {
    checkIndices("gather", idx!);
    return { shape: [...x!.shape.slice(0, axis), ...idx!.shape, ...x!.shape.slice(axis + 1)], dtype: x!.dtype };
  },
  vjp: (g, [x, idx], _o, { axis }) => [scatterAdd(g, idx!, axis, x!.shape), null],
});

/** Sum `updates` into zeros of `shape` at `indices` along `axis` (repeats accumulate). */
export const scatterAddPrim = definePrimitive<{ axis: number; shape: number[] }>({
  name: "scatterAdd",
  infer([upd, idx], { axis, shape }) {
    checkIndices("scatterAdd", idx!);
    const expect = [...shape.slice(0, axis), ...idx!.shape, ...shape.slice(axis + 1)];
    if (!sameShape(expect, upd!.shape))
      throw new ShapeError(
        `scatterAdd: updates ${fmt(upd!.shape)} do not match ${fmt(expect)} for indices ${fmt(idx!.shape)} into ${fmt(shape)}`,
      );
    return { shape: shape.slice(), dtype: upd!.dtype };
  },
  vjp: (g, [, idx], _o, { axis }) => [gather(g, idx!, axis), null],
});

/**
 * Take entries of `x` along `axis` at int32 `indices` (any shape).
 * Out-of-range indices raise an error naming the index and the axis size.
 */
export function gather(x: Tensor, indices: Tensor, axis = 0): Tensor {
  return bind(gatherPrim, [x, indices], { axis: normAxis(axis, x.ndim, "gather") });
}
export const take = gather;

export function scatterAdd(updates: Tensor, indices: Tensor, axis: number, shape: readonly number[]): Tensor {
  return bind(scatterAddPrim, [updates, indices], { axis: normAxis(axis, shape.length, "scatterAdd"), shape: shape.slice() });
}

/** One-hot encoding of int32 `indices` along a new last axis of `depth`. */
export function oneHot(indices: Tensor, depth: number, dtype: DType = "float32"): Tensor {
  checkIndices("oneHot", indices);
  return cast(equal(expandDims(indices, -1), arange(depth, { device: indices.device })), dtype);
}

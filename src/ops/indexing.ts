/** gather / scatterAdd (each the other's VJP), take and oneHot. */
import { bind } from "../ir/trace.js";
import { checkIndices, gatherPrim, scatterAddPrim } from "../prims/index.js";
import type { DType } from "../tensor/dtype.js";
import { normAxis } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import { cast } from "./cast.js";
import { arange } from "./create.js";
import { equal } from "./elementwise.js";
import { expandDims } from "./shape.js";

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

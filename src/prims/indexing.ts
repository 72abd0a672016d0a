/** gather and scatterAdd along one axis at int32 indices. */
import type { DType } from "../tensor/dtype.js";
import { DTypeError, ShapeError } from "../tensor/errors.js";
import { fmt, sameShape } from "../tensor/shape.js";
import { definePrimitive } from "./primitive.js";

export function checkIndices(op: string, idx: { dtype: DType }): void {
  if (idx.dtype !== "int32") throw new DTypeError(`${op}: indices must be int32, got ${idx.dtype}`);
}

/** out = x.shape[:axis] + indices.shape + x.shape[axis+1:]. */
export const gatherPrim = definePrimitive({
  name: "gather",
  infer([x, idx], { axis }) {
    checkIndices("gather", idx!);
    return { shape: [...x!.shape.slice(0, axis), ...idx!.shape, ...x!.shape.slice(axis + 1)], dtype: x!.dtype };
  },
});

/** Sum `updates` into zeros of `shape` at `indices` along `axis` (repeats accumulate). */
export const scatterAddPrim = definePrimitive({
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
});

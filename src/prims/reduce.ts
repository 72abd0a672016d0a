/** Reductions over axes: sum, max and argmax. */
import { DTypeError, ShapeError } from "../tensor/errors.js";
import { fmt } from "../tensor/shape.js";
import type { ReduceParams } from "./params.js";
import { definePrimitive, type Abstract } from "./primitive.js";

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

export const sumPrim = definePrimitive({ name: "sum", infer: reduceInfer("sum", false) });
export const maxPrim = definePrimitive({ name: "max", infer: reduceInfer("max", true) });

export const argmaxPrim = definePrimitive({
  name: "argmax",
  flat: true,
  infer([x], { axis, keepdims }) {
    if (x!.shape[axis] === 0) throw new ShapeError(`argmax: axis ${axis} of ${fmt(x!.shape)} is empty`);
    return { shape: reducedShape(x!.shape, [axis], keepdims), dtype: "int32" };
  },
});

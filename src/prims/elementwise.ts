/** Shape and dtype rules of the pointwise primitives (rows in ./pointwise.ts), where and cast. */
import { isFloat } from "../tensor/dtype.js";
import { DTypeError } from "../tensor/errors.js";
import { broadcastShapes } from "../tensor/shape.js";
import { definePrimitive, type KernelPrimitive } from "./primitive.js";
import { BINARY, UNARY, type BinaryName, type UnaryName } from "./pointwise.js";

export const unaryPrims = Object.fromEntries(
  UNARY.map((row) => [
    row.name,
    definePrimitive({
      name: row.name,
      flat: row.flat,
      infer([x]) {
        if (!isFloat(x!.dtype) && !(row.ints && x!.dtype === "int32")) {
          throw new DTypeError(`${row.name}: expected a float tensor, got ${x!.dtype}; cast it first`);
        }
        return { shape: x!.shape.slice(), dtype: x!.dtype };
      },
    }),
  ]),
) as { [N in UnaryName]: KernelPrimitive<N> };

export const binaryPrims = Object.fromEntries(
  BINARY.map((row) => [
    row.name,
    definePrimitive({
      name: row.name,
      flat: row.compare,
      infer([a, b]) {
        if (a!.dtype !== b!.dtype) throw new DTypeError(`${row.name}: dtypes differ: ${a!.dtype} and ${b!.dtype}; cast one first`);
        if (!row.compare && a!.dtype === "bool")
          throw new DTypeError(`${row.name}: bool tensors are not numbers; cast to a numeric dtype first`);
        if (row.floatOnly && !isFloat(a!.dtype)) throw new DTypeError(`${row.name}: expected float tensors, got ${a!.dtype}; cast first`);
        return { shape: broadcastShapes(row.name, a!.shape, b!.shape), dtype: row.compare ? "bool" : a!.dtype };
      },
    }),
  ]),
) as { [N in BinaryName]: KernelPrimitive<N> };

/** cond ? a : b elementwise, with broadcasting. */
export const wherePrim = definePrimitive({
  name: "where",
  infer([c, a, b]) {
    if (c!.dtype !== "bool") throw new DTypeError(`where: condition must be bool, got ${c!.dtype}`);
    if (a!.dtype !== b!.dtype) throw new DTypeError(`where: branch dtypes differ: ${a!.dtype} and ${b!.dtype}`);
    return { shape: broadcastShapes("where", c!.shape, a!.shape, b!.shape), dtype: a!.dtype };
  },
});

/** Dtype conversion. Float to int truncates toward zero; to bool tests != 0. */
export const castPrim = definePrimitive({
  name: "cast",
  infer([x], { dtype }) {
    return { shape: x!.shape.slice(), dtype };
  },
});

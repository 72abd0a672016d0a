/** Dtype conversion. Float to int truncates toward zero; to bool tests != 0. */
import { definePrimitive } from "../autograd/primitive.js";
import { bind, setCastPrimitive } from "../autograd/trace.js";
import { assertDType, isFloat, type DType } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";

export const castPrim = definePrimitive<{ dtype: DType }>({
  name: "cast",
  infer([x], { dtype }) {
    return { shape: x!.shape.slice(), dtype };
  },
  vjp(g, [x]) {
    return [isFloat(x!.dtype) ? cast(g, x!.dtype) : null];
  },
});
setCastPrimitive(castPrim);

export function cast(x: Tensor, dtype: DType): Tensor {
  assertDType(dtype, "cast");
  return x.dtype === dtype ? x : bind(castPrim, [x], { dtype });
}

/** Dtype conversion. Float to int truncates toward zero; to bool tests != 0. */
import { bind } from "../ir/trace.js";
import { castPrim } from "../prims/index.js";
import { assertDType, type DType } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";

export function cast(x: Tensor, dtype: DType): Tensor {
  assertDType(dtype, "cast");
  return x.dtype === dtype ? x : bind(castPrim, [x], { dtype });
}

/** The batched matrix product with transpose flags. */
import { isFloat } from "../tensor/dtype.js";
import { DTypeError, ShapeError } from "../tensor/errors.js";
import { broadcastShapes, fmt, matrixDims } from "../tensor/shape.js";
import { definePrimitive } from "./primitive.js";

/** op(a) [..., M, K] @ op(b) [..., K, N] -> [..., M, N]; both at least 2-D. */
export const matmulPrim = definePrimitive({
  name: "matmul",
  infer([a, b], { transposeA, transposeB }) {
    if (a!.dtype !== b!.dtype) throw new DTypeError(`matmul: dtypes differ: ${a!.dtype} and ${b!.dtype}`);
    if (!isFloat(a!.dtype)) throw new DTypeError(`matmul: expected float tensors, got ${a!.dtype}`);
    const [M, K] = matrixDims(a!.shape, transposeA),
      [K2, N] = matrixDims(b!.shape, transposeB);
    if (K !== K2) {
      const flags = [transposeA && "a transposed", transposeB && "b transposed"].filter(Boolean).join(", ");
      throw new ShapeError(
        `matmul: inner dimensions differ: ${fmt(a!.shape)} @ ${fmt(b!.shape)}${flags ? ` (${flags})` : ""} (${K} vs ${K2})`,
      );
    }
    const batch = broadcastShapes("matmul", a!.shape.slice(0, -2), b!.shape.slice(0, -2));
    return { shape: [...batch, M, N], dtype: a!.dtype };
  },
});

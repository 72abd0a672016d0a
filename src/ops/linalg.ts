/** Batched matrix multiplication with NumPy batch broadcasting. */
import { definePrimitive } from "../autograd/primitive.js";
import { bind } from "../autograd/trace.js";
import { isFloat } from "../tensor/dtype.js";
import { DTypeError, ShapeError } from "../tensor/errors.js";
import { broadcastShapes, fmt } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import { unbroadcast } from "./elementwise.js";
import { expandDims, mT, squeeze } from "./shape.js";

/** a [..., M, K] @ b [..., K, N] -> [..., M, N]; both at least 2-D. */
export const matmulPrim = definePrimitive<Record<string, never>>({
  name: "matmul",
  infer([a, b]) {
    if (a!.dtype !== b!.dtype) throw new DTypeError(`matmul: dtypes differ: ${a!.dtype} and ${b!.dtype}`);
    if (!isFloat(a!.dtype)) throw new DTypeError(`matmul: expected float tensors, got ${a!.dtype}`);
    const [M, K] = a!.shape.slice(-2), [K2, N] = b!.shape.slice(-2);
    if (K !== K2) throw new ShapeError(`matmul: inner dimensions differ: ${fmt(a!.shape)} @ ${fmt(b!.shape)} (${K} vs ${K2})`);
    const batch = broadcastShapes("matmul", a!.shape.slice(0, -2), b!.shape.slice(0, -2));
    return { shape: [...batch, M!, N!], dtype: a!.dtype };
  },
  vjp(g, [a, b], _out, _p, wanted) {
    return [
      wanted[0] ? unbroadcast(matmul(g, mT(b!)), a!) : null,
      wanted[1] ? unbroadcast(matmul(mT(a!), g), b!) : null,
    ];
  },
});

/** Matrix product; 1-D operands are treated as row/column vectors and the axis dropped, as in NumPy. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.ndim === 0 || b.ndim === 0) throw new ShapeError(`matmul: scalars are not matrices (${fmt(a.shape)} @ ${fmt(b.shape)}); use mul`);
  const a2 = a.ndim === 1 ? expandDims(a, 0) : a;
  const b2 = b.ndim === 1 ? expandDims(b, -1) : b;
  let out = bind(matmulPrim, [a2, b2], {});
  if (b.ndim === 1) out = squeeze(out, -1);
  if (a.ndim === 1) out = squeeze(out, -2 + (b.ndim === 1 ? 1 : 0));
  return out;
}

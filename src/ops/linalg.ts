/**
 * Batched matrix multiplication with NumPy batch broadcasting, and either
 * operand optionally transposed (its last two axes swapped) as part of the
 * product. The flags are what keep the backward pass free of transposed
 * copies: each cotangent of a product is another product with flags set.
 */
import { bind } from "../ir/trace.js";
import { matmulPrim } from "../prims/index.js";
import { promoteTypes } from "../tensor/dtype.js";
import { ShapeError } from "../tensor/errors.js";
import { fmt } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import { cast } from "./cast.js";
import { expandDims, squeeze } from "./shape.js";

export interface MatmulOptions {
  transposeA?: boolean;
  transposeB?: boolean;
}

/**
 * Matrix product op(a) @ op(b), where op swaps the last two axes of an
 * operand whose transpose flag is set (free: no copy is made). 1-D operands
 * are treated as row/column vectors and the axis dropped, as in NumPy; a
 * flag on a 1-D operand is an error.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const transposeA = opts.transposeA ?? false,
    transposeB = opts.transposeB ?? false;
  if (a.ndim === 0 || b.ndim === 0) throw new ShapeError(`matmul: scalars are not matrices (${fmt(a.shape)} @ ${fmt(b.shape)}); use mul`);
  if ((transposeA && a.ndim === 1) || (transposeB && b.ndim === 1)) {
    throw new ShapeError(
      `matmul: a 1-D operand cannot be transposed (${fmt(a.shape)} @ ${fmt(b.shape)}); it is already read as a row or column vector`,
    );
  }
  const dtype = promoteTypes(a.dtype, b.dtype);
  const a2 = cast(a.ndim === 1 ? expandDims(a, 0) : a, dtype);
  const b2 = cast(b.ndim === 1 ? expandDims(b, -1) : b, dtype);
  let out = bind(matmulPrim, [a2, b2], { transposeA, transposeB });
  if (b.ndim === 1) out = squeeze(out, -1);
  if (a.ndim === 1) out = squeeze(out, -2 + (b.ndim === 1 ? 1 : 0));
  return out;
}

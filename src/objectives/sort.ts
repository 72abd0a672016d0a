/**
 * Sorting a batch vector with a gradient, for AOT (which compares the i-th
 * smallest chosen quantity with the i-th smallest rejected one).
 *
 * The permutation is built from comparisons (an O(B²) rank count, fine for
 * preference batches) and applied with `where` + sum, so it runs on every
 * backend, needs no host read under a transform, and routes each sorted
 * entry's gradient to the one input it came from. Ties are broken by index
 * (a stable sort), which is what torch.sort does on the CPU for the small
 * batches it sorts by insertion; see docs/trl.md.
 */
import { add, cast, equal, less, mul, reshape, sum, where } from "../ops/index.js";
import { arange } from "../ops/create.js";
import { stopGradient } from "../autograd/transforms.js";
import type { Tensor } from "../tensor/tensor.js";

/** x [B] in ascending order, differentiable. */
export function sortAscending(x: Tensor): Tensor {
  const B = x.shape[0]!;
  const v = stopGradient(x);
  const row = reshape(v, [B, 1]),
    col = reshape(v, [1, B]);
  const idx = arange(B, { dtype: "float64" });
  const earlier = less(reshape(idx, [1, B]), reshape(idx, [B, 1]));
  // before[i, j]: x_j sorts before x_i (smaller, or equal and earlier in the batch)
  const before = add(cast(less(col, row), "float64"), mul(cast(equal(col, row), "float64"), cast(earlier, "float64")));
  const rank = sum(before, 1); // [B]: where x_i lands
  const lands = equal(reshape(rank, [1, B]), reshape(idx, [B, 1])); // [k, i]: x_i lands at k
  return sum(where(lands, reshape(x, [1, B]), 0), 1);
}

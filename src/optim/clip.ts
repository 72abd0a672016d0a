/** Gradient clipping by global norm, as torch.nn.utils.clip_grad_norm_. */
import { AnchorError } from "../tensor/errors.js";
import { scope } from "../tensor/scope.js";
import { treeLeaves, treeMap } from "../tensor/pytree.js";
import { Tensor } from "../tensor/tensor.js";
import { cast } from "../ops/cast.js";
import { mul } from "../ops/elementwise.js";
import { sum } from "../ops/reduce.js";

/** sqrt(Σ g²) over every leaf of a gradient pytree, accumulated in float64. */
export function globalNorm(grads: unknown): number {
  return scope(() => {
    let total = 0;
    for (const g of treeLeaves(grads)) {
      const g64 = cast(g, "float64");
      total += sum(mul(g64, g64)).item();
    }
    return Math.sqrt(total);
  });
}

/**
 * Scale every gradient by min(1, maxNorm / (norm + 1e-6)), the factor
 * PyTorch uses. Returns the clipped gradients and the norm before clipping.
 * A non-finite norm is returned as it is, with the gradients unchanged, so
 * the caller can report it instead of silently training on NaNs.
 */
export function clipByGlobalNorm<T>(grads: T, maxNorm: number): { grads: T; norm: number } {
  if (!(maxNorm > 0)) throw new AnchorError(`clipByGlobalNorm: maxNorm must be > 0, got ${maxNorm}`);
  const norm = globalNorm(grads);
  const coef = maxNorm / (norm + 1e-6);
  if (!Number.isFinite(norm) || coef >= 1) return { grads, norm };
  return { grads: treeMap<T>((g: Tensor) => mul(g, coef), grads), norm };
}

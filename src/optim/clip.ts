/** Gradient clipping by global norm, as torch.nn.utils.clip_grad_norm_. */
import { AnchorError } from "../tensor/errors.js";
import { scope } from "../tensor/scope.js";
import { treeLeaves, treeMap } from "../tensor/pytree.js";
import { Tensor } from "../tensor/tensor.js";
import { cast } from "../ops/cast.js";
import { widestFloat } from "../ops/create.js";
import { add, div, minimum, mul, sqrt } from "../ops/elementwise.js";
import { sum } from "../ops/reduce.js";
import { stack } from "../ops/shape.js";

/**
 * sqrt(Σ g²) over every leaf of a gradient pytree as a scalar tensor on the
 * gradients' device, so a training step can clip without reading it back.
 */
export function globalNormTensor(grads: unknown): Tensor {
  const leaves = treeLeaves(grads);
  if (leaves.length === 0) throw new AnchorError("globalNorm: the gradient tree has no tensors");
  return scope(() => {
    const squares = leaves.map((g) => {
      const w = cast(g, widestFloat(g.device)); // float64 where the backend has it
      return sum(mul(w, w));
    });
    return sqrt(sum(stack(squares)));
  });
}

/** sqrt(Σ g²) over every leaf of a gradient pytree, accumulated in float64 (cpu: reads the value back). */
export function globalNorm(grads: unknown): number {
  return scope(() => globalNormTensor(grads).item());
}

/**
 * Clipping without a readback: every gradient is scaled by
 * min(1, maxNorm / (norm + 1e-6)) computed on the device (×1 exactly when
 * under the limit). The norm comes back as a scalar tensor; a non-finite one
 * leaves garbage gradients, which the caller must refuse after reading it.
 */
export function clipByGlobalNormOnDevice<T>(grads: T, maxNorm: number): { grads: T; norm: Tensor } {
  if (!(maxNorm > 0)) throw new AnchorError(`clipByGlobalNorm: maxNorm must be > 0, got ${maxNorm}`);
  const norm = globalNormTensor(grads);
  const coef = scope(() => minimum(div(maxNorm, add(norm, 1e-6)), 1));
  const clipped = treeMap<T>((g: Tensor) => mul(g, cast(coef, g.dtype)), grads);
  coef.dispose();
  return { grads: clipped, norm };
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

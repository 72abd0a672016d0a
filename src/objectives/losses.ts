/** Scalar loss shapes shared by the objectives, each stable for any finite input. */
import { add, div, greater, less, log, log1p, mul, neg, sub, tanh, where, exp } from "../ops/elementwise.js";
import { softplus } from "../ops/nn.js";
import type { Tensor } from "../tensor/tensor.js";

/** ℓ(z) = −log σ(z) = softplus(−z). */
export const logistic = (z: Tensor): Tensor => softplus(neg(z));

/** The conservative (cDPO) form (1 − ε)·ℓ(z) + ε·ℓ(−z); exactly ℓ(z) at ε = 0. */
export function smoothedLogistic(z: Tensor, eps: number): Tensor {
  if (eps === 0) return logistic(z);
  return add(mul(logistic(z), 1 - eps), mul(logistic(neg(z)), eps));
}

export const square = (x: Tensor): Tensor => mul(x, x);

const LN_HALF = -Math.LN2;

/**
 * log(1 − e^a) for a < 0 (a log-probability), accurate at both ends:
 * log1p(−e^a) for a < −ln 2, and log(−expm1(a)) above, with
 * expm1(a) = 2t / (1 − t), t = tanh(a/2), which keeps full relative
 * precision as a → 0⁻. Each branch sees a safe input, so the branch not
 * taken contributes neither NaN values nor NaN gradients.
 */
export function log1mexp(a: Tensor): Tensor {
  const far = less(a, LN_HALF);
  const aFar = where(far, a, -1);
  const aNear = where(far, -0.5, a);
  const t = tanh(mul(aNear, 0.5));
  const nearValue = sub(log(mul(t, -2)), log(sub(1, t)));
  return where(far, log1p(neg(exp(aFar))), nearValue);
}

/** Upper clamp with zero gradient where clamped (unlike minimum, which splits ties). */
export function clampAbove(x: Tensor, hi: number): Tensor {
  return where(greater(x, hi), hi, x);
}

/** x / y for y known to be nonzero where `use` holds; elsewhere 0, with no NaN anywhere. */
export function safeDiv(x: Tensor, y: Tensor, use: Tensor): Tensor {
  return where(use, div(x, where(use, y, 1)), 0);
}

/**
 * Metrics under TRL's names. Every metric is computed from stop-gradient
 * values, so it is a plain scalar that no tape records.
 */
import { stopGradient } from "../autograd/transforms.js";
import { cast } from "../ops/cast.js";
import { greater, mul, sub } from "../ops/elementwise.js";
import { mean } from "../ops/reduce.js";
import type { Tensor } from "../tensor/tensor.js";
import type { Terms } from "./batch.js";

/** The batch mean of a per-pair quantity, detached. */
export const detachedMean = (x: Tensor): Tensor => mean(stopGradient(x));

/** The share of pairs where `cond` (a bool [B] tensor) holds, in `like`'s dtype. */
export const fraction = (cond: Tensor, like: Tensor): Tensor => mean(cast(stopGradient(cond), like.dtype));

/**
 * `logps/chosen`, `logps/rejected` (the policy log-probs the objective used:
 * sums, or per-token means when length-normalised) and, when the objective has
 * a reward scale, `rewards/chosen` = mean(scale·r_c), `rewards/rejected`,
 * `rewards/margins` = mean of their difference, `rewards/accuracies` = share
 * of pairs with the chosen reward strictly above the rejected one.
 */
export function preferenceMetrics(t: Terms, rewardScale: number | null): Record<string, Tensor> {
  const logps = { "logps/chosen": detachedMean(t.chosen), "logps/rejected": detachedMean(t.rejected) };
  if (rewardScale === null) return logps;
  const chosen = mul(stopGradient(t.chosenRatio), rewardScale);
  const rejected = mul(stopGradient(t.rejectedRatio), rewardScale);
  return {
    "rewards/chosen": mean(chosen),
    "rewards/rejected": mean(rejected),
    "rewards/margins": mean(sub(chosen, rejected)),
    "rewards/accuracies": fraction(greater(chosen, rejected), chosen),
    ...logps,
  };
}

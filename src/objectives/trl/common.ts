/**
 * Pieces shared by the TRL trainers' losses: TRL's arithmetic forms, its
 * reward metrics, and the state a v0.25 DPOTrainer carries between batches.
 */
import { stopGradient } from "../../autograd/transforms.js";
import { cast, greater, logSigmoid, mean, mul, neg, sub } from "../../ops/index.js";
import type { Tensor } from "../../tensor/tensor.js";

/**
 * What a TRL trainer keeps between batches and fromTrl therefore passes in
 * and returns (only v0.25's DPOTrainer changes it):
 * - `running`: the bco_pair running mean of the rewards (TRL's
 *   RunningMoments: `mean`, kept as a double but updated in float32, and
 *   `count`), null until a bco_pair term runs;
 * - `labelSmoothing`: v0.25's exo_pair sets the trainer's label_smoothing to
 *   1e-3 when it is 0, for every later term and batch.
 */
export interface TrlState {
  readonly running: { readonly mean: number | Tensor; readonly count: number } | null;
  readonly labelSmoothing: number;
}

/** TRL's per-pair loss pieces, in the order TRL writes them. */
export const ls = logSigmoid;

/** −logσ(z)·(1 − ε) − logσ(−z)·ε (TRL's conservative sigmoid, also at ε = 0). */
export const smoothed = (z: Tensor, eps: number): Tensor => sub(mul(neg(ls(z)), 1 - eps), mul(ls(neg(z)), eps));

/** Round to float32 and back: TRL computes some scalars in float32. */
export const viaFloat32 = (x: Tensor): Tensor => cast(cast(x, "float32"), x.dtype);

/**
 * TRL's rewards/* metrics from per-pair (already scaled) rewards. The
 * accuracy is `(chosen > rejected).float().mean()`: a float32 mean, so
 * 3 of 5 logs 0.6000000238418579, as TRL does.
 */
export function rewardMetrics(chosen: Tensor, rejected: Tensor): Record<string, Tensor> {
  const c = stopGradient(chosen),
    r = stopGradient(rejected);
  return {
    "rewards/chosen": mean(c),
    "rewards/rejected": mean(r),
    "rewards/accuracies": mean(cast(greater(c, r), "float32")),
    "rewards/margins": mean(sub(c, r)),
  };
}

/** logps/chosen, logps/rejected: the batch means of the log-probs the loss used. */
export const logpMetrics = (chosen: Tensor, rejected: Tensor): Record<string, Tensor> => ({
  "logps/chosen": mean(stopGradient(chosen)),
  "logps/rejected": mean(stopGradient(rejected)),
});

/**
 * Objectives without a reference model: sft and the reference-free
 * preference losses simpo, cpo and orpo. They read only the policy
 * log-probs S (or per-token means A = S / L) and the lengths.
 */
import { add, mul, neg, sub } from "../ops/elementwise.js";
import type { Tensor } from "../tensor/tensor.js";
import type { Terms } from "./batch.js";
import { clampAbove, log1mexp, logistic, smoothedLogistic } from "./losses.js";
import { detachedMean } from "./metrics.js";
import { defineObjective } from "./objective.js";
import { NLL_REDUCTIONS, chosenNll, type NllReduction } from "./nll.js";
import { requireNonNegative, requireOneOf, requireRange } from "./options.js";
import { ObjectiveError } from "./types.js";

const policyMargin = (t: Terms): Tensor => sub(t.chosen, t.rejected);

const checkNll = (name: string, reduction: string): void => requireOneOf(name, "nllReduction", reduction, NLL_REDUCTIONS);

/**
 * Supervised anchor: −A_c, the per-token negative log-likelihood of the
 * chosen completion, averaged over pairs (−S_c with lengthNormalize: false).
 * nllReduction "token" averages over all tokens of the batch instead, as TRL
 * does, which weights long completions more; the default per-pair mean keeps
 * the loss of a batch equal to the size-weighted mean of its parts.
 */
export const sft = defineObjective({
  name: "sft",
  reference: false,
  rewardScale: () => null,
  defaults: { lengthNormalize: true, nllReduction: "pair" as string },
  check: (o) => {
    checkNll("sft", o.nllReduction);
    if (o.nllReduction === "token" && !o.lengthNormalize)
      throw new ObjectiveError('sft: lengthNormalize: false (a per-pair sum) has no meaning with nllReduction: "token" (a token mean)');
  },
  pairLoss: (t, o) => (o.nllReduction === "token" ? chosenNll("sft", t, "token") : neg(t.chosen)),
});

/** SimPO: ℓ(β(A_c − A_r) − γ), cDPO-smoothed with labelSmoothing. */
export const simpo = defineObjective({
  name: "simpo",
  reference: false,
  rewardScale: (o) => o.beta,
  defaults: { beta: 2.0, gamma: 0.5, labelSmoothing: 0, lengthNormalize: true },
  check: (o) => requireRange("simpo", "labelSmoothing", o.labelSmoothing, 0, 0.5),
  pairLoss: (t, { beta, gamma, labelSmoothing }) => smoothedLogistic(sub(mul(policyMargin(t), beta), gamma), labelSmoothing),
});

/** CPO's preference term: ℓ(β(S_c − S_r)); CPO proper adds sft (see `weighted`). */
export const cpo = defineObjective({
  name: "cpo",
  reference: false,
  rewardScale: (o) => o.beta,
  defaults: { beta: 0.1, labelSmoothing: 0, lengthNormalize: false },
  check: (o) => requireRange("cpo", "labelSmoothing", o.labelSmoothing, 0, 0.5),
  pairLoss: (t, { beta, labelSmoothing }) => smoothedLogistic(mul(policyMargin(t), beta), labelSmoothing),
});

/**
 * Largest per-token mean log-prob fed to the odds: a completion of
 * probability 1 (A = 0, which float32 log-softmax produces for a confident
 * model) has infinite odds; clamping A to −1e−12 keeps the loss and its
 * gradient finite, with zero odds-gradient where it clamps.
 */
const MAX_MEAN_LOGP = -1e-12;

/**
 * ORPO: NLL + λ·ℓ(lo) with the log odds ratio
 * lo = (A_c − A_r) − [log(1 − e^A_c) − log(1 − e^A_r)].
 * The NLL is −A_c per pair by default; nllReduction "token" takes the batch's
 * token mean. When the batch carries chosenPromptLogps / chosenPromptLengths,
 * the prompt's tokens join the NLL (ORPO's cross entropy over prompt and
 * completion).
 */
export const orpo = defineObjective({
  name: "orpo",
  reference: false,
  lengthNormalize: true,
  optional: ["chosenPromptLogps", "chosenPromptLengths"],
  rewardScale: (o) => o.lambda,
  defaults: { lambda: 0.1, nllReduction: "pair" as string },
  check: (o) => {
    requireNonNegative("orpo", "lambda", o.lambda);
    checkNll("orpo", o.nllReduction);
  },
  pairLoss: (t, { lambda, nllReduction }) => {
    const ac = clampAbove(t.chosen, MAX_MEAN_LOGP),
      ar = clampAbove(t.rejected, MAX_MEAN_LOGP);
    const logOdds = sub(sub(ac, ar), sub(log1mexp(ac), log1mexp(ar)));
    return {
      perPair: add(chosenNll("orpo", t, nllReduction as NllReduction, true), mul(logistic(logOdds), lambda)),
      metrics: { "orpo/log_odds_ratio": detachedMean(neg(logistic(logOdds))), "orpo/log_odds_chosen": detachedMean(logOdds) },
    };
  },
});

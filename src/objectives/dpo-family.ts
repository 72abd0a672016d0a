/**
 * The DPO family: objectives of the log-ratios r_c = S_c − Ŝ_c and
 * r_r = S_r − Ŝ_r (formulas in docs/objectives.md, defaults as in TRL).
 * Each takes `beta`, `lengthNormalize` (r from per-token means) and
 * `referenceFree` (Ŝ = 0) besides its own options.
 */
import { add, mul, neg, sigmoid, sub, exp, type TensorLike } from "../ops/elementwise.js";
import { relu } from "../ops/nn.js";
import type { Tensor } from "../tensor/tensor.js";
import type { Terms } from "./batch.js";
import { logistic, smoothedLogistic, square } from "./losses.js";
import { detachedMean } from "./metrics.js";
import { defineObjective } from "./objective.js";
import { sortAscending } from "./sort.js";
import { requireNonNegative, requirePositive, requireRange } from "./options.js";

const FAMILY = { beta: 0.1, lengthNormalize: false, referenceFree: false };
const base = { reference: true, rewardScale: (o: { beta: number }) => o.beta } as const;

/** Δ = r_c − r_r. */
const margin = (t: Terms): Tensor => sub(t.chosenRatio, t.rejectedRatio);
const scaled = (x: Tensor, beta: number): Tensor => mul(x, beta);
const oneMinus = (x: Tensor): Tensor => sub(1, x);
const addAll = (...xs: Tensor[]): Tensor => xs.reduce((a, b) => add(a, b));
const plus = (a: Tensor, b: TensorLike): Tensor => add(a, b);

/** Sigmoid DPO; with labelSmoothing ε > 0 the conservative cDPO form. */
export const dpo = defineObjective({
  ...base,
  name: "dpo",
  defaults: { ...FAMILY, labelSmoothing: 0 },
  check: (o) => requireRange("dpo", "labelSmoothing", o.labelSmoothing, 0, 0.5),
  pairLoss: (t, o) => smoothedLogistic(scaled(margin(t), o.beta), o.labelSmoothing),
});

/** Robust DPO: the unbiased loss under label flips with probability ε. */
export const robust = defineObjective({
  ...base,
  name: "robust",
  defaults: { ...FAMILY, labelSmoothing: 0 },
  check: (o) => requireRange("robust", "labelSmoothing", o.labelSmoothing, 0, 0.5, { hi: true }),
  pairLoss: (t, { beta, labelSmoothing: e }) => {
    const z = scaled(margin(t), beta);
    return mul(sub(mul(logistic(z), 1 - e), mul(logistic(neg(z)), e)), 1 / (1 - 2 * e));
  },
});

/** SLiC hinge: max(0, 1 − βΔ). */
export const hinge = defineObjective({
  ...base,
  name: "hinge",
  defaults: FAMILY,
  pairLoss: (t, o) => relu(oneMinus(scaled(margin(t), o.beta))),
});

/** IPO: (Δ − 1/(2β))², on per-token log-ratios by default (as TRL). */
export const ipo = defineObjective({
  ...base,
  name: "ipo",
  defaults: { ...FAMILY, lengthNormalize: true },
  pairLoss: (t, o) => square(sub(margin(t), 1 / (2 * o.beta))),
});

/** EXO (pairwise): the reverse KL from the ε-smoothed preference label. */
export const exoPair = defineObjective({
  ...base,
  name: "exoPair",
  defaults: { ...FAMILY, labelSmoothing: 1e-3 },
  check: (o) => requireRange("exoPair", "labelSmoothing", o.labelSmoothing, 0, 0.5, { lo: true }),
  pairLoss: (t, { beta, labelSmoothing: e }) => {
    const z = scaled(margin(t), beta);
    // σ(z)·[log σ(z) − log(1−ε)] + σ(−z)·[log σ(−z) − log ε], with log σ(z) = −ℓ(z)
    return add(mul(sigmoid(z), neg(plus(logistic(z), Math.log(1 - e)))), mul(sigmoid(neg(z)), neg(plus(logistic(neg(z)), Math.log(e)))));
  },
});

/** NCA (pairwise): ℓ(βr_c) + ½ℓ(−βr_c) + ½ℓ(−βr_r). */
export const ncaPair = defineObjective({
  ...base,
  name: "ncaPair",
  defaults: FAMILY,
  pairLoss: (t, { beta }) => {
    const rc = scaled(t.chosenRatio, beta),
      rr = scaled(t.rejectedRatio, beta);
    return addAll(logistic(rc), mul(logistic(neg(rc)), 0.5), mul(logistic(neg(rr)), 0.5));
  },
});

/**
 * BCO (pairwise): ℓ(βr_c − δ) + ℓ(−(βr_r − δ)). TRL keeps δ as a running
 * mean of the rewards; a pure objective takes it as the `delta` option
 * (default 0), which the training loop may update between steps.
 */
export const bcoPair = defineObjective({
  ...base,
  name: "bcoPair",
  defaults: { ...FAMILY, delta: 0 },
  pairLoss: (t, { beta, delta }) =>
    add(logistic(sub(scaled(t.chosenRatio, beta), delta)), logistic(neg(sub(scaled(t.rejectedRatio, beta), delta)))),
});

/** SPPO (hard labels): (r_c − 1/(2β))² + (r_r + 1/(2β))². */
export const sppoHard = defineObjective({
  ...base,
  name: "sppoHard",
  defaults: FAMILY,
  pairLoss: (t, { beta }) => add(square(sub(t.chosenRatio, 1 / (2 * beta))), square(plus(t.rejectedRatio, 1 / (2 * beta)))),
});

/** APO-zero: 1 − σ(βr_c) + σ(βr_r) (raise the chosen likelihood, lower the rejected). */
export const apoZero = defineObjective({
  ...base,
  name: "apoZero",
  defaults: FAMILY,
  pairLoss: (t, { beta }) => add(oneMinus(sigmoid(scaled(t.chosenRatio, beta))), sigmoid(scaled(t.rejectedRatio, beta))),
});

/** APO-down: σ(βr_c) + 1 − σ(βΔ) (lower both, the rejected more). */
export const apoDown = defineObjective({
  ...base,
  name: "apoDown",
  defaults: FAMILY,
  pairLoss: (t, { beta }) => add(sigmoid(scaled(t.chosenRatio, beta)), oneMinus(sigmoid(scaled(margin(t), beta)))),
});

/**
 * DiscoPOP: (1 − m)·ℓ(z) + m·e^(−z), z = βΔ, m = σ(z/τ). The second term is
 * evaluated as exp(log σ(z/τ) − z), which stays finite where e^(−z) alone
 * overflows (z ≪ 0, where m underflows to 0 and TRL's form gives 0·∞).
 */
export const discopop = defineObjective({
  ...base,
  name: "discopop",
  defaults: { ...FAMILY, tau: 0.05 },
  check: (o) => requirePositive("discopop", "tau", o.tau),
  pairLoss: (t, { beta, tau }) => {
    const z = scaled(margin(t), beta);
    const u = mul(z, 1 / tau);
    return add(mul(oneMinus(sigmoid(u)), logistic(z)), exp(sub(neg(logistic(u)), z)));
  },
});

/** DPO-Positive: ℓ(β[Δ − λ·max(0, Ŝ_c − S_c)]) penalises a chosen likelihood below the reference. */
export const dpop = defineObjective({
  ...base,
  name: "dpop",
  defaults: { ...FAMILY, lambda: 50 },
  check: (o) => requireNonNegative("dpop", "lambda", o.lambda),
  pairLoss: (t, { beta, lambda }) => {
    const penalty = relu(neg(t.chosenRatio));
    return { perPair: logistic(scaled(sub(margin(t), mul(penalty, lambda)), beta)), metrics: { "dpop/penalty": detachedMean(penalty) } };
  },
});

/**
 * AOT (paired): the i-th smallest policy margin S_c − S_r against the i-th
 * smallest reference margin, ℓ(β·δ) cDPO-smoothed, δ = sort(S_c − S_r) −
 * sort(Ŝ_c − Ŝ_r). Sorting matches the two margin distributions rather than
 * the pairs, so the loss is not a sum of independent per-pair terms.
 */
export const aot = defineObjective({
  ...base,
  name: "aot",
  defaults: { ...FAMILY, labelSmoothing: 0 },
  check: (o) => requireRange("aot", "labelSmoothing", o.labelSmoothing, 0, 0.5),
  pairLoss: (t, o) => {
    const policy = sortAscending(sub(t.chosen, t.rejected));
    const delta = t.reference ? sub(policy, sortAscending(sub(t.reference.chosen, t.reference.rejected))) : policy;
    return smoothedLogistic(scaled(delta, o.beta), o.labelSmoothing);
  },
});

/**
 * AOT (unpaired; TRL main's `aot_unpaired`): δ = sort(r_c) − sort(r_r), the
 * chosen and rejected log-ratio distributions compared quantile by quantile.
 */
export const aotPair = defineObjective({
  ...base,
  name: "aotPair",
  defaults: { ...FAMILY, labelSmoothing: 0 },
  check: (o) => requireRange("aotPair", "labelSmoothing", o.labelSmoothing, 0, 0.5),
  pairLoss: (t, o) => smoothedLogistic(scaled(sub(sortAscending(t.chosenRatio), sortAscending(t.rejectedRatio)), o.beta), o.labelSmoothing),
});

/**
 * CPOTrainer's and ORPOTrainer's losses as TRL computes them (the same
 * arithmetic at v0.25.1 and in main's trl.experimental, except where noted).
 */
import { stopGradient } from "../../autograd/transforms.js";
import { add, cast, div, exp, log1p, mean, mul, neg, pow, relu, sub } from "../../ops/index.js";
import { zeros } from "../../ops/create.js";
import type { Tensor } from "../../tensor/tensor.js";
import type { Terms } from "../batch.js";
import { log1mexp } from "../losses.js";
import { tokenNll } from "../nll.js";
import { logpMetrics, ls, rewardMetrics, smoothed, type TrlState } from "./common.js";
import type { TrlSettings } from "./config.js";
import type { TrlStep } from "./dpo.js";

/**
 * CPO: the preference term on S (on A = S / L for ipo and simpo), optionally
 * through AlphaPO's reward (1 − p^(−α)) / α with p = e^S, plus cpo_alpha
 * times the chosen completion's token-mean NLL. loss_type "alphapo" is TRL's
 * shorthand for simpo with cpo_alpha = 0.
 */
export function cpoStep(s: TrlSettings, t: Terms, state: TrlState): TrlStep {
  const alphapo = s.lossTypes[0] === "alphapo";
  const type = alphapo ? "simpo" : s.lossTypes[0]!;
  const cpoAlpha = alphapo ? 0 : s.cpoAlpha;
  const { beta, labelSmoothing: eps, alpha } = s;
  const perToken = type === "ipo" || type === "simpo";
  const c = perToken ? div(t.chosenSum, t.chosenLengths) : t.chosenSum;
  const r = perToken ? div(t.rejectedSum, t.rejectedLengths) : t.rejectedSum;
  const reward = (x: Tensor) => (alpha !== 0 ? div(sub(1, pow(exp(x), -alpha)), alpha) : x);
  const rc = reward(c),
    rr = reward(r);
  let logits = sub(rc, rr);
  let losses: Tensor;
  if (type === "simpo") {
    logits = sub(logits, s.simpoGamma / beta);
    losses = smoothed(mul(logits, beta), eps);
  } else if (type === "sigmoid") losses = smoothed(mul(logits, beta), eps);
  else if (type === "hinge") losses = relu(sub(1, mul(logits, beta)));
  else losses = mul(sub(logits, 1 / (2 * beta)), sub(logits, 1 / (2 * beta)));
  // cpo_alpha = 0: TRL logs a zero nll_loss and adds nothing
  const nll = cpoAlpha === 0 ? null : tokenNll("fromTrl", t);
  const loss = nll ? add(mean(losses), mul(nll, cpoAlpha)) : mean(losses);
  return {
    loss,
    metrics: {
      ...rewardMetrics(mul(rc, beta), mul(rr, beta)),
      ...logpMetrics(c, r),
      nll_loss: nll ? stopGradient(nll) : zeros([], { dtype: t.dtype }),
    },
    state,
  };
}

/**
 * ORPO: the chosen NLL (over prompt and completion when the batch has the
 * prompt fields, else over the completion) minus β·mean logσ(log odds), on
 * per-token means A. v0.25 evaluates log(1 − e^A) as log1p(−exp(A)), which
 * loses accuracy as A → 0; main casts A to float32 first and branches at
 * −ln 2. Both are reproduced as written.
 */
export function orpoStep(s: TrlSettings, t: Terms, state: TrlState): TrlStep {
  const ac = div(t.chosenSum, t.chosenLengths),
    ar = div(t.rejectedSum, t.rejectedLengths);
  const main = s.version === "1";
  const pc = main ? cast(ac, "float32") : ac,
    pr = main ? cast(ar, "float32") : ar;
  const odds = main ? log1mexp : (x: Tensor) => log1p(neg(exp(x)));
  const logOdds = sub(sub(pc, pr), sub(odds(pc), odds(pr)));
  const ratio = ls(logOdds);
  const nll = tokenNll("fromTrl", t, true);
  return {
    loss: sub(nll, mean(mul(ratio, s.beta))),
    metrics: {
      ...rewardMetrics(mul(pc, s.beta), mul(pr, s.beta)),
      ...logpMetrics(ac, ar),
      nll_loss: stopGradient(nll),
      log_odds_ratio: stopGradient(mean(ratio)),
      log_odds_chosen: stopGradient(mean(logOdds)),
    },
    state,
  };
}

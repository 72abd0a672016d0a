/**
 * ACPO (Asymmetric Constrained Preference Optimization), as we read Huang et
 * al., arXiv 2603.22165: DPO in which a stop-gradient coefficient α ∈ [0, 1]
 * scales the rejected reward once a pair's margin already meets a
 * length-adaptive target, so the rejected log-prob stops being pushed down
 * (likelihood displacement) while the chosen term keeps its full gradient.
 * The paper's full text was not available; every reading it leaves open is an
 * option, and docs/objectives.md derives the gradient and marks our choices.
 */
import { stopGradient } from "../autograd/transforms.js";
import { add, greaterEqual, less, mul, sub, where } from "../ops/elementwise.js";
import { clip } from "../ops/nn.js";
import { mean } from "../ops/reduce.js";
import { broadcastTo } from "../ops/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import { prepareBatch, type Terms } from "./batch.js";
import { logistic, safeDiv } from "./losses.js";
import { detachedMean, fraction } from "./metrics.js";
import { defineObjective } from "./objective.js";
import { requireNonNegative, requireOneOf, requirePositive, requireRange, resolveOptions } from "./options.js";
import type { PreferenceBatch } from "./types.js";

const DEFAULTS = {
  beta: 0.1,
  /** Target per completion token: τ_i = δ·(L_c,i + L_r,i). Our choice; the paper's value is not known here. */
  delta: 0.01,
  /** "batch": τ = mean_i τ_i shared by all pairs; "pair": each pair its own τ_i. */
  target: "batch" as "batch" | "pair",
  /** Bounds [lo, hi] of α, within [0, 1]. */
  clip: [0, 1] as readonly [number, number],
  lengthNormalize: false,
  referenceFree: false,
  /** Ablation: scale both rewards by α, z = α·(R_c − R_r), instead of the rejected one alone. */
  symmetric: false,
};

export type AcpoOptions = Partial<typeof DEFAULTS>;

function checkOptions(o: typeof DEFAULTS): void {
  requirePositive("acpo", "beta", o.beta);
  requireNonNegative("acpo", "delta", o.delta);
  requireOneOf("acpo", "target", o.target, ["batch", "pair"]);
  const [lo, hi] = o.clip;
  requireRange("acpo", "clip[0]", lo, 0, 1);
  requireRange("acpo", "clip[1]", hi, lo, 1);
}

/**
 * α_i and τ_i (detached, [B]). With R = β·r: the pair is active when its
 * margin meets the target (R_c − R_r ≥ τ) and R_r < 0; then
 * α = clip((R_c − τ)/R_r, lo, hi), the factor that brings the scaled margin
 * R_c − α·R_r down to τ; otherwise α = 1.
 */
function coefficients(t: Terms, o: typeof DEFAULTS): { alpha: Tensor; target: Tensor } {
  const rc = mul(stopGradient(t.chosenRatio), o.beta);
  const rr = mul(stopGradient(t.rejectedRatio), o.beta);
  const perPair = mul(add(t.chosenLengths, t.rejectedLengths), o.delta);
  const target = o.target === "batch" ? broadcastTo(mean(perPair), [t.size]) : perPair;
  const metTarget = greaterEqual(sub(rc, rr), target);
  const active = where(metTarget, less(rr, 0), metTarget); // logical and
  const alpha = where(active, clip(safeDiv(sub(rc, target), rr, active), o.clip[0], o.clip[1]), 1);
  return { alpha, target };
}

/**
 * Per pair ℓ(z) with z = β·(r_c − α·r_r) (or β·α·(r_c − r_r) when symmetric);
 * α carries no gradient, so ∂/∂S_c is DPO's and ∂/∂S_r is DPO's times α.
 * Metrics: TRL's rewards/logps (unscaled rewards β·r), `acpo/alpha` (mean α),
 * `acpo/target` (mean τ), `acpo/active_fraction` (share of pairs with α < 1),
 * `acpo/scaled_margin` (mean z).
 */
export const acpo = defineObjective({
  name: "acpo",
  reference: true,
  rewardScale: (o) => o.beta,
  defaults: DEFAULTS,
  check: checkOptions,
  pairLoss: (t, o) => {
    const { alpha, target } = coefficients(t, o);
    const z = o.symmetric
      ? mul(mul(sub(t.chosenRatio, t.rejectedRatio), alpha), o.beta)
      : mul(sub(t.chosenRatio, mul(t.rejectedRatio, alpha)), o.beta);
    return {
      perPair: logistic(z),
      metrics: {
        "acpo/alpha": mean(alpha),
        "acpo/target": mean(target),
        "acpo/active_fraction": fraction(less(alpha, 1), alpha),
        "acpo/scaled_margin": detachedMean(z),
      },
    };
  },
});

/** ACPO's per-pair α and target τ for a batch (detached), for logging or analysis. */
export function acpoCoefficients(batch: PreferenceBatch, opts?: AcpoOptions): { alpha: Tensor; target: Tensor } {
  const o = resolveOptions("acpo", DEFAULTS, opts);
  checkOptions(o);
  const t = prepareBatch("acpo", batch, { reference: !o.referenceFree, lengthNormalize: o.lengthNormalize });
  return coefficients(t, o);
}

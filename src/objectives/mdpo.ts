/**
 * mDPO (multimodal DPO): DPO, plus a conditional term that prefers the chosen
 * completion with the real image over the same completion with the image
 * corrupted or masked, plus an anchor that keeps the chosen reward positive.
 */
import { add, mul, sub } from "../ops/elementwise.js";
import type { Tensor } from "../tensor/tensor.js";
import { logistic } from "./losses.js";
import { detachedMean } from "./metrics.js";
import { defineObjective } from "./objective.js";

/**
 * ℓ(βΔ) + ℓ(β[(S_c − S̃_c) − (Ŝ_c − Ŝ̃_c)]) + ℓ(βr_c), where S̃_c is
 * `policyChosenLogpsNoImage` and Ŝ̃_c `refChosenLogpsNoImage` (the latter
 * not needed with referenceFree).
 */
export const mdpo = defineObjective({
  name: "mdpo",
  reference: true,
  rewardScale: (o) => o.beta,
  defaults: { beta: 0.1, lengthNormalize: false, referenceFree: false },
  extra: (o) => (o.referenceFree ? ["policyChosenLogpsNoImage"] : ["policyChosenLogpsNoImage", "refChosenLogpsNoImage"]),
  pairLoss: (t, { beta, referenceFree }) => {
    const noImage = t.extra.policyChosenLogpsNoImage!;
    const noImageRatio: Tensor = referenceFree ? noImage : sub(noImage, t.extra.refChosenLogpsNoImage!);
    const rc = mul(t.chosenRatio, beta);
    const imageMargin = sub(rc, mul(noImageRatio, beta));
    const preference = logistic(sub(rc, mul(t.rejectedRatio, beta)));
    return {
      perPair: add(add(preference, logistic(imageMargin)), logistic(rc)),
      metrics: { "mdpo/image_margin": detachedMean(imageMargin) },
    };
  },
});

/**
 * Preference objectives as pure functions of per-sequence log-probs:
 *
 *   const objective = ag.objectives.acpo({ beta: 0.1 });
 *   const { loss, metrics } = objective(batch);
 *
 * Formulas, options and the ACPO gradient: docs/objectives.md.
 */
export type { Objective, ObjectiveResult, PreferenceBatch } from "./types.js";
export { ObjectiveError } from "./types.js";
export {
  aot,
  aotPair,
  apoDown,
  apoZero,
  bcoPair,
  discopop,
  dpo,
  dpop,
  exoPair,
  hinge,
  ipo,
  ncaPair,
  robust,
  sppoHard,
} from "./dpo-family.js";
export { cpo, orpo, sft, simpo } from "./reference-free.js";
export { mdpo } from "./mdpo.js";
export { acpo, acpoCoefficients, type AcpoOptions } from "./acpo.js";
export { mpo, weighted, type WeightedTerm } from "./combinators.js";
export { logRatios, type LogRatioOptions } from "./batch.js";
export { logistic } from "./losses.js";
export { type NllReduction } from "./nll.js";
export { fromTrl, isTrlObjective, trlStateToJson, type TrlConfig, type TrlObjective, type TrlState } from "./trl/index.js";
export { sequenceLogps, type SequenceLogpsOptions } from "./sequence-logps.js";
export { exportTorch, ExportError, type ExportTorchOptions } from "./export-torch.js";

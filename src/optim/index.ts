/** Optimizers, learning-rate schedules, gradient clipping and parameter masks. */
export { adamw, type AdamWOptions } from "./adamw.js";
export { sgd, type SgdOptions } from "./sgd.js";
export { makeOptimizer, type CommonOptions, type LeafRule, type Optimizer, type OptState } from "./optimizer.js";
export {
  scheduleFromSpec,
  warmupConstant,
  warmupCosine,
  warmupLinear,
  lrAt,
  type LearningRate,
  type Schedule,
  type ScheduleSpec,
  type WarmupOptions,
} from "./schedule.js";
export { clipByGlobalNorm, clipByGlobalNormOnDevice, globalNorm, globalNormTensor } from "./clip.js";
export { freeze, leavesWithPaths, type ParamMask, type PathLeaf } from "./paths.js";

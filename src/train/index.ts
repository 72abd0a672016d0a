/** Training: the loop, checkpoints, metrics, reference log-probs and evaluation. */
export { train, type TrainOptions, type TrainResult } from "./loop.js";
export type { ModelInputs, Pixels, VisionLanguageModel } from "./model.js";
export { listCheckpoints, loadCheckpoint, readTrainerState, removeStaleTemps, saveCheckpoint, type TrainerState } from "./checkpoint.js";
export { lockRun, RunLockedError, type LockHolder, type RunLock } from "./lock.js";
export { configDifferences, ResumeMismatchError, MAY_CHANGE_ON_RESUME } from "./resume.js";
export { type StopSignal } from "./stop.js";
export { MetricsLog, readMetrics, type MetricRow } from "./metrics.js";
export { evaluatePope, popeScores, visualReliance, type PopeOptions, type PopeScores } from "./eval.js";
export { referenceLogps, type ReferenceLogps } from "./reference.js";
export { scoreAll, scoreSequences, paramsFingerprint } from "./scoring.js";
export { collate, encodeRows, gatherPixels, pairSequences, type Collated, type Example, type Sequence } from "./examples.js";
export { PixelCache } from "./images.js";
export { internvlModel, type InternVLAdapterOptions } from "./internvl.js";
export { objectiveFromSpec, OBJECTIVES, type ObjectiveSpec } from "./objectives.js";
export { readTrainConfig, trainFromConfig, ConfigFileError, type TrainConfig } from "./config.js";

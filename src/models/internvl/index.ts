/**
 * InternVL (InternViT + mlp1 + Qwen2/Qwen3), functional: a config, a
 * parameter pytree, and pure functions of them.
 *
 *   const model = await ag.models.internvl.load(dir);              // { config, params, tokenizer }
 *   const logits = ag.models.internvl.forward(model.config, model.params, { inputIds, pixelValues });
 *   const out = await ag.models.internvl.generate(model, { inputIds, pixelValues, maxNewTokens: 64 });
 */
export {
  ConfigError,
  configJson,
  parseConfig,
  preprocessorJson,
  preset,
  PRESETS,
  tokensPerTile,
  validateConfig,
  visionDepth,
  type InternVLConfig,
  type Layout,
  type PresetName,
  type Template,
  type TextConfig,
  type TilingConfig,
  type VisionConfig,
} from "./config.js";
export {
  getIn,
  hfLegacyName,
  initParams,
  parameterCount,
  paramSpecs,
  setIn,
  type DecoderLayerParams,
  type InternVLParams,
  type LanguageParams,
  type ParamSpec,
  type ProjectorParams,
  type VisionLayerParams,
  type VisionParams,
} from "./params.js";
export { bicubicMatrix, positionEmbeddingFor, visionEncoder } from "./vision.js";
export { imageFeatures, pixelShuffle, projector } from "./connector.js";
export { decoder, lmHead, type DecoderCache } from "./language.js";
export { embedInputs, forward, forwardWithCache, InputError, type ForwardInputs, type StepOptions } from "./model.js";
export {
  checkpointTensors,
  loadWeights,
  loadWeightsFromDir,
  saveWeights,
  WeightsError,
  type LoadWeightsOptions,
  type SaveWeightsOptions,
} from "./weights.js";
export {
  createModel,
  load,
  readConfig,
  save,
  type CreateOptions,
  type InternVLModel,
  type LoadOptions,
  type SaveOptions,
} from "./checkpoint.js";
export { generate, pickToken, type GenerateOptions, type GenerateResult } from "./generate.js";
export { TINY_WORDS, wordLevelIds } from "./tiny-vocab.js";
export * from "./io.js";

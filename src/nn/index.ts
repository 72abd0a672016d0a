/**
 * Pure layers. Parameters are pytrees (plain objects of tensors) made by the
 * `init*` functions from a seed; each layer is a pure function
 * `layer(params, x, ...)`, so `grad` and `valueAndGrad` work through it.
 */
export { constantInit, normalInit, subSeed } from "./init.js";
export { initLinear, linear, type LinearInit, type LinearParams } from "./linear.js";
export { embedding, initEmbedding, type EmbeddingParams } from "./embedding.js";
export { initLayerNorm, initRMSNorm, layerNorm, rmsNorm, type LayerNormParams, type RMSNormParams } from "./norm.js";
export { geluMlp, initGeluMlp, initSwiGlu, swiGlu, type GeluMlpParams, type SwiGluParams } from "./mlp.js";
export { initPatchEmbed, patchEmbed, type PatchEmbedParams } from "./patch.js";
export { applyRope, ropeTables, rotateHalf, type RopeTables } from "./rope.js";
export {
  causalMask,
  dotProductAttention,
  initAttention,
  mergeHeads,
  selfAttention,
  splitHeads,
  type AttentionParams,
  type AttentionShape,
  type KVCache,
  type SdpaOptions,
  type SelfAttentionOptions,
  type SlotWrite,
} from "./attention.js";

/**
 * InternVL configuration: the sizes of the three parts (InternViT, the mlp1
 * projector, a Qwen2 or Qwen3 decoder) and how images become tokens. Read
 * from a checkpoint's config.json in either public layout, or built from a
 * named preset; `configJson` writes it back in either layout with the field
 * names the public checkpoints use.
 *
 * - original (OpenGVLab/InternVL*-1B): `vision_config`, `llm_config`,
 *   `template`, `ps_version`, `select_layer`, `downsample_ratio`, ...
 * - "-hf" (transformers' InternVLForConditionalGeneration): `vision_config`,
 *   `text_config`, `image_token_id`, `image_seq_length`, `downsample_ratio`,
 *   `projector_hidden_act`, `vision_feature_layer`, ...
 */
import { AnchorError } from "../../tensor/errors.js";
import { TINY_WORDS, wordLevelIds } from "./tiny-vocab.js";

/** A config.json that we cannot read, or that names an architecture we do not implement. */
export class ConfigError extends AnchorError {
  override name = "ConfigError";
}

export type Layout = "original" | "hf";
export type Template = "internvl2_5" | "Hermes-2";

export interface VisionConfig {
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly intermediateSize: number;
  /** Tile side in pixels; the position embeddings cover (imageSize / patchSize)² patches. */
  readonly imageSize: number;
  readonly patchSize: number;
  readonly numChannels: number;
  readonly layerNormEps: number;
  readonly qkvBias: boolean;
  /** Initial value of the per-channel layer scales ls1/ls2. */
  readonly layerScaleInit: number;
  readonly initializerRange: number;
}

export interface TextConfig {
  readonly arch: "qwen2" | "qwen3";
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly intermediateSize: number;
  readonly vocabSize: number;
  readonly ropeTheta: number;
  /**
   * transformers' "dynamic" NTK scaling (InternVL2.5/3-1B set factor 2). It
   * changes θ only for sequences longer than max_position_embeddings, which
   * forward refuses, so within the context it is plain RoPE.
   */
  readonly ropeScaling: { readonly type: "dynamic"; readonly factor: number } | null;
  readonly rmsNormEps: number;
  /** Biases on q/k/v (Qwen2); o_proj never has one. */
  readonly qkvBias: boolean;
  /** Per-head RMSNorm of q and k before RoPE (Qwen3). */
  readonly qkNorm: boolean;
  /** The config's own flag; loading also ties the head when the checkpoint has no lm_head. */
  readonly tieWordEmbeddings: boolean;
  readonly maxPositionEmbeddings: number;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly initializerRange: number;
}

export interface TilingConfig {
  readonly dynamic: boolean;
  readonly minTiles: number;
  readonly maxTiles: number;
  readonly useThumbnail: boolean;
}

export interface InternVLConfig {
  readonly vision: VisionConfig;
  readonly text: TextConfig;
  /** 0.5: each 2×2 block of patches becomes one token of 4× the width. */
  readonly downsampleRatio: number;
  /** "v2" (every public checkpoint) or "v1" (transposed token order). */
  readonly psVersion: "v1" | "v2";
  /** Which ViT layer feeds the projector: -1 = the last (Python indexing over [embeddings, layer 1, ..., layer L]). */
  readonly selectLayer: number;
  readonly template: Template;
  /** The id of <IMG_CONTEXT>, whose embeddings the image features replace. */
  readonly imageTokenId: number;
  readonly tiling: TilingConfig;
  /** The layout this config was read from (and `save` writes by default). */
  readonly layout: Layout;
}

/** Image tokens per 448² tile (256 for the public models). */
export function tokensPerTile(c: InternVLConfig): number {
  const grid = c.vision.imageSize / c.vision.patchSize;
  return grid * grid * c.downsampleRatio * c.downsampleRatio;
}

/** How many ViT layers run: all of them for select_layer -1. */
export function visionDepth(c: InternVLConfig): number {
  const L = c.vision.numLayers,
    s = c.selectLayer;
  return s < 0 ? L + 1 + s : s;
}

/** Throws a ConfigError unless the sizes fit together. */
export function validateConfig(c: InternVLConfig, where = "config"): InternVLConfig {
  const v = c.vision,
    t = c.text;
  const fail = (msg: string): never => {
    throw new ConfigError(`${where}: ${msg}`);
  };
  // sizes first: the checks below divide by them, and the parameter table is built from them
  const sizes: [string, number][] = [
    ["vision hidden_size", v.hiddenSize],
    ["vision num_hidden_layers", v.numLayers],
    ["vision num_attention_heads", v.numHeads],
    ["vision intermediate_size", v.intermediateSize],
    ["vision image_size", v.imageSize],
    ["vision patch_size", v.patchSize],
    ["vision num_channels", v.numChannels],
    ["text hidden_size", t.hiddenSize],
    ["text num_hidden_layers", t.numLayers],
    ["text num_attention_heads", t.numHeads],
    ["text num_key_value_heads", t.numKvHeads],
    ["text head_dim", t.headDim],
    ["text intermediate_size", t.intermediateSize],
    ["text vocab_size", t.vocabSize],
    ["text max_position_embeddings", t.maxPositionEmbeddings],
  ];
  for (const [name, n] of sizes) if (!Number.isSafeInteger(n) || n < 1) fail(`${name} must be a positive integer, got ${n}`);
  if (v.imageSize % v.patchSize !== 0) fail(`vision image_size ${v.imageSize} is not a multiple of patch_size ${v.patchSize}`);
  if (v.hiddenSize % v.numHeads !== 0) fail(`vision hidden_size ${v.hiddenSize} is not a multiple of num_attention_heads ${v.numHeads}`);
  const k = 1 / c.downsampleRatio;
  if (!Number.isInteger(k) || k < 1) fail(`downsample_ratio ${c.downsampleRatio} must be 1/k for an integer k`);
  if ((v.imageSize / v.patchSize) % k !== 0)
    fail(`the ${v.imageSize / v.patchSize}-patch grid cannot be pixel-shuffled by downsample_ratio ${c.downsampleRatio}`);
  if (t.numHeads % t.numKvHeads !== 0)
    fail(`text num_attention_heads ${t.numHeads} is not a multiple of num_key_value_heads ${t.numKvHeads}`);
  if (t.headDim % 2 !== 0) fail(`text head_dim ${t.headDim} must be even for RoPE`);
  const depth = visionDepth(c);
  if (!Number.isInteger(depth) || depth < 0 || depth > v.numLayers)
    fail(`select_layer ${c.selectLayer} is out of range for ${v.numLayers} vision layers`);
  if (!Number.isInteger(c.imageTokenId) || c.imageTokenId < 0 || c.imageTokenId >= t.vocabSize) {
    fail(`the <IMG_CONTEXT> id ${c.imageTokenId} is not in the vocabulary of ${t.vocabSize}`);
  }
  return c;
}

// --- presets ---------------------------------------------------------------

const INTERN_VIT_300M: VisionConfig = {
  hiddenSize: 1024,
  numLayers: 24,
  numHeads: 16,
  intermediateSize: 4096,
  imageSize: 448,
  patchSize: 14,
  numChannels: 3,
  layerNormEps: 1e-6,
  qkvBias: true,
  layerScaleInit: 0.1,
  initializerRange: 0.02,
};

const QWEN2_0_5B: TextConfig = {
  arch: "qwen2",
  hiddenSize: 896,
  numLayers: 24,
  numHeads: 14,
  numKvHeads: 2,
  headDim: 64,
  intermediateSize: 4864,
  vocabSize: 151674,
  ropeTheta: 1e6,
  ropeScaling: { type: "dynamic", factor: 2 },
  rmsNormEps: 1e-6,
  qkvBias: true,
  qkNorm: false,
  tieWordEmbeddings: false,
  maxPositionEmbeddings: 32768,
  bosTokenId: 151643,
  eosTokenId: 151645,
  initializerRange: 0.02,
};

const STANDARD_TILING: TilingConfig = { dynamic: true, minTiles: 1, maxTiles: 12, useThumbnail: true };

const base = { downsampleRatio: 0.5, psVersion: "v2", selectLayer: -1, tiling: STANDARD_TILING, layout: "original" } as const;

/**
 * The tiny model for tests, CI and the CPU demo: 56-px tiles of 7-px patches
 * (an 8×8 grid, 16 image tokens per tile after the pixel shuffle), a 2-layer
 * ViT of width 32 and a 2-layer Qwen2 of width 64 with grouped-query heads.
 * Its vocabulary is the word-level one `init-model` writes (tiny-vocab.ts),
 * whose ids fix `vocabSize` and `imageTokenId`.
 *
 * Weights start at std 0.1 rather than the 1B models' 0.02: 0.02 is sized
 * for widths near 1000, and at widths 32-64 it leaves attention logits near
 * zero, and training sits on a plateau before attention learns to pick out
 * an image token by the question. On the demo's data, after the same 1300
 * SFT steps, POPE accuracy (random / popular / adversarial) is 0.57 / 0.41 /
 * 0.40 from 0.02 and 0.82 / 0.73 / 0.73 from 0.1 (docs/demo.md).
 */
const TINY_INIT_STD = 0.1;

function tiny(arch: "qwen2" | "qwen3", vocabSize: number, imageTokenId: number): InternVLConfig {
  return {
    ...base,
    vision: {
      ...INTERN_VIT_300M,
      hiddenSize: 32,
      numLayers: 2,
      numHeads: 4,
      intermediateSize: 64,
      imageSize: 56,
      patchSize: 7,
      initializerRange: TINY_INIT_STD,
    },
    text: {
      ...QWEN2_0_5B,
      arch,
      hiddenSize: 64,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 2,
      headDim: 16,
      intermediateSize: 128,
      initializerRange: TINY_INIT_STD,
      vocabSize,
      ropeScaling: null,
      qkvBias: arch === "qwen2",
      qkNorm: arch === "qwen3",
      maxPositionEmbeddings: 2048,
      bosTokenId: null,
      eosTokenId: null,
    },
    template: "internvl2_5",
    imageTokenId,
  };
}

/**
 * The benchmark's mid-size shapes (bench/models.ts, and the [perf-cpu] issue's
 * comparison with PyTorch): the tiny model's 56-px tiles and word-level
 * vocabulary, a 4-layer ViT of width 128 and a 4-layer Qwen2 of width 384
 * (6 heads × 64, 2 KV heads, SwiGLU 1024), untied head: 7.7M parameters, big
 * enough that the GEMMs dominate a training step. `small-v8k` pads the
 * vocabulary to 8192 (13.8M parameters) so the embedding, LM head and
 * log-softmax weigh as they do in a real model; the tokenizer still has only
 * the tiny words, the ids above them are never produced.
 */
function small(vocabSize: number, imageTokenId: number): InternVLConfig {
  const t = tiny("qwen2", vocabSize, imageTokenId);
  return {
    ...t,
    vision: { ...t.vision, hiddenSize: 128, numLayers: 4, numHeads: 4, intermediateSize: 512, initializerRange: 0.02 },
    text: {
      ...t.text,
      hiddenSize: 384,
      numLayers: 4,
      numHeads: 6,
      numKvHeads: 2,
      headDim: 64,
      intermediateSize: 1024,
      initializerRange: 0.02,
    },
  };
}

/**
 * Presets whose tokenizer is the word-level one `init-model` writes, with the
 * vocabulary size each pads to (0: exactly the tokenizer's ids). The others
 * need their checkpoint's real tokenizer.
 */
export const WORD_LEVEL_PRESETS: Readonly<Record<string, { readonly padVocabTo: number }>> = {
  tiny: { padVocabTo: 0 },
  "tiny-qwen3": { padVocabTo: 0 },
  small: { padVocabTo: 0 },
  "small-v8k": { padVocabTo: 8192 },
};

export const PRESETS = [
  "tiny",
  "tiny-qwen3",
  "small",
  "small-v8k",
  "internvl2-1b",
  "internvl2-1b-2layer",
  "internvl2.5-1b",
  "internvl3-1b",
  "internvl3.5-1b",
] as const;
export type PresetName = (typeof PRESETS)[number];

/** A named configuration; the 1B ones carry the public checkpoints' sizes and token ids. */
export function preset(name: PresetName | string): InternVLConfig {
  switch (name) {
    case "tiny":
    case "tiny-qwen3": {
      const ids = wordLevelIds(TINY_WORDS);
      const c = tiny(name === "tiny" ? "qwen2" : "qwen3", ids.vocabSize, ids.imageTokenId);
      return { ...c, text: { ...c.text, eosTokenId: ids.eosTokenId } };
    }
    case "small":
    case "small-v8k": {
      const ids = wordLevelIds(TINY_WORDS);
      const c = small(Math.max(ids.vocabSize, WORD_LEVEL_PRESETS[name]!.padVocabTo), ids.imageTokenId);
      return { ...c, text: { ...c.text, eosTokenId: ids.eosTokenId } };
    }
    case "internvl2-1b":
      // Qwen2-0.5B-Instruct's 151,646 ids plus InternVL's 9 added tokens; <IMG_CONTEXT> = 151648
      return {
        ...base,
        vision: INTERN_VIT_300M,
        text: { ...QWEN2_0_5B, vocabSize: 151655, ropeScaling: null },
        template: "Hermes-2",
        imageTokenId: 151648,
      };
    case "internvl2-1b-2layer": {
      // InternVL2-1B's every width, vocabulary and the full InternViT-300M, with 2 of Qwen2's 24
      // decoder layers: a real-sized training step (embedding, LM head, 151k-way log-softmax,
      // 448-px vision tower) that fits a GPU benchmark's minutes (bench/gpu.ts)
      const c = preset("internvl2-1b");
      return { ...c, text: { ...c.text, numLayers: 2 } };
    }
    case "internvl2.5-1b":
    case "internvl3-1b":
      return { ...base, vision: INTERN_VIT_300M, text: QWEN2_0_5B, template: "internvl2_5", imageTokenId: 151667 };
    case "internvl3.5-1b":
      // Qwen3-0.6B with an untied head (the published 0.8B language-model count needs it)
      return {
        ...base,
        vision: INTERN_VIT_300M,
        template: "internvl2_5",
        imageTokenId: 151671,
        text: {
          ...QWEN2_0_5B,
          arch: "qwen3",
          hiddenSize: 1024,
          numLayers: 28,
          numHeads: 16,
          numKvHeads: 8,
          headDim: 128,
          intermediateSize: 3072,
          vocabSize: 151936,
          ropeScaling: null,
          qkvBias: false,
          qkNorm: true,
          maxPositionEmbeddings: 40960,
        },
      };
    default:
      throw new ConfigError(`unknown preset "${name}"; known presets: ${PRESETS.join(", ")}`);
  }
}

// --- reading config.json ---------------------------------------------------

type Json = Record<string, unknown>;

class Reader {
  constructor(
    private readonly file: string,
    private readonly obj: Json,
    private readonly prefix: string,
  ) {}

  private where(key: string) {
    return `${this.file}: ${this.prefix}${key}`;
  }

  has(key: string): boolean {
    return this.obj[key] !== undefined && this.obj[key] !== null;
  }

  num(key: string, dflt?: number): number {
    const v = this.obj[key];
    if (v === undefined || v === null) {
      if (dflt !== undefined) return dflt;
      throw new ConfigError(`${this.where(key)} is missing`);
    }
    if (typeof v !== "number" || !Number.isFinite(v))
      throw new ConfigError(`${this.where(key)} must be a number, got ${JSON.stringify(v)}`);
    return v;
  }

  int(key: string, dflt?: number): number {
    const v = this.num(key, dflt);
    if (!Number.isInteger(v)) throw new ConfigError(`${this.where(key)} must be an integer, got ${v}`);
    return v;
  }

  /** A size given as n or [n, n] (transformers writes image_size and patch_size as pairs). */
  square(key: string, dflt?: number): number {
    const v = this.obj[key];
    if (Array.isArray(v)) {
      if (v.length !== 2 || v[0] !== v[1] || !Number.isInteger(v[0]))
        throw new ConfigError(`${this.where(key)} must be square, got ${JSON.stringify(v)}`);
      return v[0] as number;
    }
    return this.int(key, dflt);
  }

  bool(key: string, dflt: boolean): boolean {
    const v = this.obj[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v === "boolean") return v;
    if (v === 0 || v === 1) return v === 1;
    throw new ConfigError(`${this.where(key)} must be a boolean, got ${JSON.stringify(v)}`);
  }

  str(key: string, dflt?: string): string {
    const v = this.obj[key];
    if (v === undefined || v === null) {
      if (dflt !== undefined) return dflt;
      throw new ConfigError(`${this.where(key)} is missing`);
    }
    if (typeof v !== "string") throw new ConfigError(`${this.where(key)} must be a string, got ${JSON.stringify(v)}`);
    return v;
  }

  strings(key: string): string[] {
    const v = this.obj[key];
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
  }

  /** Token ids may be a number or a list (the first is used). */
  tokenId(key: string): number | null {
    const v = this.obj[key];
    if (Array.isArray(v)) return typeof v[0] === "number" ? v[0] : null;
    return typeof v === "number" ? v : null;
  }

  sub(key: string): Reader {
    const v = this.obj[key];
    if (!v || typeof v !== "object" || Array.isArray(v)) throw new ConfigError(`${this.where(key)} must be an object`);
    return new Reader(this.file, v as Json, `${this.prefix}${key}.`);
  }

  fail(key: string, msg: string): never {
    throw new ConfigError(`${this.where(key)} ${msg}`);
  }
}

function readVision(r: Reader, layout: Layout): VisionConfig {
  const type = r.str("norm_type", "layer_norm");
  if (type !== "layer_norm")
    r.fail("norm_type", `is "${type}"; only InternViT with layer_norm (InternViT-300M) is supported, not the RMSNorm InternViT-6B`);
  const qkNorm = r.bool(layout === "hf" ? "use_qk_norm" : "qk_normalization", false);
  if (qkNorm)
    r.fail(layout === "hf" ? "use_qk_norm" : "qk_normalization", "is set; InternViT q/k normalisation (InternViT-6B) is not supported");
  const act = r.str("hidden_act", "gelu");
  if (act !== "gelu") r.fail("hidden_act", `is "${act}"; only the exact GELU is supported`);
  if (layout === "hf") {
    if (!r.bool("use_absolute_position_embeddings", true))
      r.fail("use_absolute_position_embeddings", "is false; InternVL checkpoints use absolute position embeddings");
    if (!r.bool("use_mean_pooling", true))
      r.fail("use_mean_pooling", "is false (a final LayerNorm); no InternVL checkpoint has one and it is not supported");
    if (r.bool("use_mask_token", false)) r.fail("use_mask_token", "is set; masked image modelling is not supported");
  }
  return {
    hiddenSize: r.int("hidden_size"),
    numLayers: r.int("num_hidden_layers"),
    numHeads: r.int("num_attention_heads"),
    intermediateSize: r.int("intermediate_size"),
    imageSize: r.square("image_size"),
    patchSize: r.square("patch_size"),
    numChannels: r.int("num_channels", 3),
    layerNormEps: r.num("layer_norm_eps", 1e-6),
    qkvBias: r.bool(layout === "hf" ? "attention_bias" : "qkv_bias", layout !== "hf"),
    layerScaleInit: r.num(layout === "hf" ? "layer_scale_init_value" : "initializer_factor", 0.1),
    initializerRange: r.num("initializer_range", 0.02),
  };
}

function readRopeScaling(r: Reader): TextConfig["ropeScaling"] {
  if (!r.has("rope_scaling")) return null;
  const s = r.sub("rope_scaling");
  const type = s.str("rope_type", s.str("type", ""));
  if (type !== "dynamic")
    r.fail("rope_scaling", `has type "${type}"; only the "dynamic" (NTK) scaling of the InternVL checkpoints is supported`);
  return { type: "dynamic", factor: s.num("factor") };
}

const TEXT_ARCHS: Record<string, TextConfig["arch"]> = {
  Qwen2ForCausalLM: "qwen2",
  Qwen3ForCausalLM: "qwen3",
  qwen2: "qwen2",
  qwen3: "qwen3",
};

function readText(r: Reader): TextConfig {
  const archs = r.strings("architectures");
  // the class name decides when there is one (an InternLM2 config may still say model_type "qwen2")
  const named = archs[0] ?? r.str("model_type", "qwen2");
  const arch = TEXT_ARCHS[named];
  if (!arch) {
    r.fail(
      archs.length ? "architectures" : "model_type",
      `names "${named}"; supported language models: Qwen2ForCausalLM (InternVL2/2.5/3-1B) and Qwen3ForCausalLM (InternVL3.5-1B). InternLM2 and LLaMA backbones are not implemented`,
    );
  }
  const hidden = r.int("hidden_size"),
    heads = r.int("num_attention_heads");
  const act = r.str("hidden_act", "silu");
  if (act !== "silu") r.fail("hidden_act", `is "${act}"; only SwiGLU (silu) decoders are supported`);
  if (r.bool("use_sliding_window", false)) r.fail("use_sliding_window", "is set; sliding-window attention is not supported");
  return {
    arch: arch!,
    hiddenSize: hidden,
    numLayers: r.int("num_hidden_layers"),
    numHeads: heads,
    numKvHeads: r.int("num_key_value_heads", heads),
    headDim: r.int("head_dim", hidden / heads),
    intermediateSize: r.int("intermediate_size"),
    vocabSize: r.int("vocab_size"),
    ropeTheta: r.num("rope_theta", 10000),
    ropeScaling: readRopeScaling(r),
    rmsNormEps: r.num("rms_norm_eps", 1e-6),
    qkvBias: arch === "qwen2" ? true : r.bool("attention_bias", false),
    qkNorm: arch === "qwen3",
    tieWordEmbeddings: r.bool("tie_word_embeddings", false),
    maxPositionEmbeddings: r.int("max_position_embeddings", 32768),
    bosTokenId: r.tokenId("bos_token_id"),
    eosTokenId: r.tokenId("eos_token_id"),
    initializerRange: r.num("initializer_range", 0.02),
  };
}

export interface ReadContext {
  /** The file name used in error messages. */
  file?: string;
  /** The <IMG_CONTEXT> id from the tokenizer (the original layout's config does not carry it). */
  imageTokenId?: number;
  /** preprocessor_config.json of an "-hf" checkpoint, for its tiling settings. */
  preprocessor?: Json;
}

/** Parse a config.json object in either layout (told apart by model_type / llm_config vs text_config). */
export function parseConfig(json: unknown, ctx: ReadContext = {}): InternVLConfig {
  const file = ctx.file ?? "config.json";
  if (!json || typeof json !== "object" || Array.isArray(json)) throw new ConfigError(`${file}: expected a JSON object`);
  const r = new Reader(file, json as Json, "");
  const modelType = r.str("model_type", "");
  const layout: Layout | null =
    r.has("llm_config") || modelType === "internvl_chat" ? "original" : r.has("text_config") || modelType === "internvl" ? "hf" : null;
  if (!layout) {
    throw new ConfigError(
      `${file}: not an InternVL config (model_type "${modelType}", and neither llm_config nor text_config is there); supported: InternVLChatModel (model_type internvl_chat) and InternVLForConditionalGeneration (model_type internvl)`,
    );
  }
  const vision = readVision(r.sub("vision_config"), layout);
  const text = readText(r.sub(layout === "original" ? "llm_config" : "text_config"));
  const ratio = r.num("downsample_ratio", 0.5);
  let config: InternVLConfig;
  if (layout === "original") {
    const ps = r.str("ps_version", "v1");
    if (ps !== "v1" && ps !== "v2") r.fail("ps_version", `is "${ps}"; expected "v1" or "v2"`);
    const template = r.str("template", "internvl2_5");
    if (template !== "internvl2_5" && template !== "Hermes-2") r.fail("template", `is "${template}"; supported: internvl2_5, Hermes-2`);
    if (ctx.imageTokenId === undefined)
      throw new ConfigError(
        `${file}: the original layout does not record the <IMG_CONTEXT> id; it comes from tokenizer.json, which must define <IMG_CONTEXT>`,
      );
    const forced = r.has("force_image_size") ? r.square("force_image_size") : vision.imageSize;
    config = {
      vision: { ...vision, imageSize: forced },
      text,
      downsampleRatio: ratio,
      psVersion: ps as "v1" | "v2",
      selectLayer: r.int("select_layer", -1),
      template: template as Template,
      imageTokenId: ctx.imageTokenId,
      tiling: {
        dynamic: r.bool("dynamic_image_size", true),
        minTiles: r.int("min_dynamic_patch", 1),
        maxTiles: r.int("max_dynamic_patch", 12),
        useThumbnail: r.bool("use_thumbnail", true),
      },
      layout,
    };
  } else {
    const act = r.str("projector_hidden_act", "gelu");
    if (act !== "gelu") r.fail("projector_hidden_act", `is "${act}"; only the exact GELU is supported`);
    const strategy = r.str("vision_feature_select_strategy", "default");
    if (strategy !== "default")
      r.fail("vision_feature_select_strategy", `is "${strategy}"; only "default" (drop the class token) is supported`);
    if (Array.isArray((json as Json)["vision_feature_layer"]))
      r.fail("vision_feature_layer", "is a list; only a single layer is supported");
    const pre = new Reader(ctx.preprocessor ? "preprocessor_config.json" : file, ctx.preprocessor ?? {}, "");
    config = {
      vision,
      text,
      downsampleRatio: ratio,
      psVersion: "v2",
      selectLayer: r.int("vision_feature_layer", -1),
      template: "internvl2_5",
      imageTokenId: r.int("image_token_id", 151667),
      tiling: {
        dynamic: pre.bool("crop_to_patches", true),
        minTiles: pre.int("min_patches", 1),
        maxTiles: pre.int("max_patches", 12),
        useThumbnail: true,
      },
      layout,
    };
    const seq = r.int("image_seq_length", tokensPerTile(config));
    if (seq !== tokensPerTile(config)) {
      r.fail(
        "image_seq_length",
        `is ${seq}, but image_size ${vision.imageSize}, patch_size ${vision.patchSize} and downsample_ratio ${ratio} give ${tokensPerTile(config)} tokens per tile`,
      );
    }
  }
  return validateConfig(config, file);
}

// --- writing config.json ---------------------------------------------------

function textJson(t: TextConfig, extra: Json): Json {
  const arch = t.arch === "qwen2" ? "Qwen2ForCausalLM" : "Qwen3ForCausalLM";
  return {
    architectures: [arch],
    model_type: t.arch,
    hidden_size: t.hiddenSize,
    intermediate_size: t.intermediateSize,
    num_hidden_layers: t.numLayers,
    num_attention_heads: t.numHeads,
    num_key_value_heads: t.numKvHeads,
    head_dim: t.headDim,
    hidden_act: "silu",
    max_position_embeddings: t.maxPositionEmbeddings,
    rms_norm_eps: t.rmsNormEps,
    rope_theta: t.ropeTheta,
    rope_scaling: t.ropeScaling && { factor: t.ropeScaling.factor, rope_type: t.ropeScaling.type, type: t.ropeScaling.type },
    ...(t.arch === "qwen3" && { attention_bias: t.qkvBias }),
    tie_word_embeddings: t.tieWordEmbeddings,
    vocab_size: t.vocabSize,
    bos_token_id: t.bosTokenId,
    eos_token_id: t.eosTokenId,
    initializer_range: t.initializerRange,
    use_cache: true,
    use_sliding_window: false,
    ...extra,
  };
}

/** config.json contents in `layout`, with the field names of the public checkpoints of that layout. */
export function configJson(c: InternVLConfig, layout: Layout = c.layout, torchDtype = "float32"): Json {
  const v = c.vision;
  if (layout === "original") {
    return {
      architectures: ["InternVLChatModel"],
      model_type: "internvl_chat",
      downsample_ratio: c.downsampleRatio,
      dynamic_image_size: c.tiling.dynamic,
      force_image_size: v.imageSize,
      max_dynamic_patch: c.tiling.maxTiles,
      min_dynamic_patch: c.tiling.minTiles,
      use_thumbnail: c.tiling.useThumbnail,
      ps_version: c.psVersion,
      select_layer: c.selectLayer,
      template: c.template,
      torch_dtype: torchDtype,
      use_backbone_lora: 0,
      use_llm_lora: 0,
      llm_config: textJson(c.text, { torch_dtype: torchDtype }),
      vision_config: {
        architectures: ["InternVisionModel"],
        model_type: "intern_vit_6b",
        hidden_size: v.hiddenSize,
        intermediate_size: v.intermediateSize,
        num_attention_heads: v.numHeads,
        num_hidden_layers: v.numLayers,
        image_size: v.imageSize,
        patch_size: v.patchSize,
        num_channels: v.numChannels,
        hidden_act: "gelu",
        norm_type: "layer_norm",
        layer_norm_eps: v.layerNormEps,
        qk_normalization: false,
        qkv_bias: v.qkvBias,
        initializer_factor: v.layerScaleInit,
        initializer_range: v.initializerRange,
        drop_path_rate: 0,
        dropout: 0,
        attention_dropout: 0,
        use_flash_attn: false,
        torch_dtype: torchDtype,
      },
    };
  }
  if (c.psVersion !== "v2")
    throw new ConfigError(`configJson: the "-hf" layout has no ps_version; it always shuffles as v2, but this config uses ${c.psVersion}`);
  if (c.template !== "internvl2_5")
    throw new ConfigError(`configJson: the "-hf" layout always uses the internvl2_5 (ChatML) template, but this config uses ${c.template}`);
  return {
    architectures: ["InternVLForConditionalGeneration"],
    model_type: "internvl",
    downsample_ratio: c.downsampleRatio,
    image_seq_length: tokensPerTile(c),
    image_token_id: c.imageTokenId,
    projector_hidden_act: "gelu",
    vision_feature_layer: c.selectLayer,
    vision_feature_select_strategy: "default",
    torch_dtype: torchDtype,
    text_config: textJson(c.text, {}),
    vision_config: {
      architectures: ["InternVisionModel"],
      model_type: "internvl_vision",
      hidden_size: v.hiddenSize,
      intermediate_size: v.intermediateSize,
      num_attention_heads: v.numHeads,
      num_hidden_layers: v.numLayers,
      image_size: [v.imageSize, v.imageSize],
      patch_size: [v.patchSize, v.patchSize],
      num_channels: v.numChannels,
      hidden_act: "gelu",
      norm_type: "layer_norm",
      layer_norm_eps: v.layerNormEps,
      attention_bias: v.qkvBias,
      use_qk_norm: false,
      layer_scale_init_value: v.layerScaleInit,
      initializer_range: v.initializerRange,
      use_absolute_position_embeddings: true,
      use_mask_token: false,
      use_mean_pooling: true,
      attention_dropout: 0,
      projection_dropout: 0,
      hidden_dropout_prob: 0,
    },
  };
}

/** preprocessor_config.json of an "-hf" checkpoint (transformers' GotOcr2 image processor settings). */
export function preprocessorJson(c: InternVLConfig): Json {
  return {
    image_processor_type: "GotOcr2ImageProcessorFast",
    crop_to_patches: c.tiling.dynamic,
    min_patches: c.tiling.minTiles,
    max_patches: c.tiling.maxTiles,
    size: { height: c.vision.imageSize, width: c.vision.imageSize },
    do_resize: true,
    do_rescale: true,
    rescale_factor: 1 / 255,
    do_normalize: true,
    image_mean: [0.485, 0.456, 0.406],
    image_std: [0.229, 0.224, 0.225],
    do_convert_rgb: true,
  };
}

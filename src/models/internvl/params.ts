/**
 * The parameter pytree of an InternVL model and the one table that describes
 * it: for every parameter, its place in the tree, its shape, how it is
 * initialised and which checkpoint tensors hold it in each layout. Loading,
 * saving, initialising and counting parameters all read this table, so the
 * layouts cannot drift apart.
 *
 * Linear layers keep their kernels [in, out] (see nn/linear.ts), the
 * transpose of the checkpoints' [out, in] weights; InternViT's fused qkv,
 * which the "-hf" layout stores as three tensors (q_proj, k_proj, v_proj),
 * is their concatenation on the checkpoint's axis 0.
 */
import type { AttentionParams } from "../../nn/attention.js";
import type { EmbeddingParams } from "../../nn/embedding.js";
import { constantInit, normalInit, subSeed } from "../../nn/init.js";
import type { LinearParams } from "../../nn/linear.js";
import type { GeluMlpParams, SwiGluParams } from "../../nn/mlp.js";
import type { LayerNormParams, RMSNormParams } from "../../nn/norm.js";
import type { PatchEmbedParams } from "../../nn/patch.js";
import type { DType } from "../../tensor/dtype.js";
import { sizeOf } from "../../tensor/shape.js";
import type { Tensor } from "../../tensor/tensor.js";
import type { InternVLConfig, Layout } from "./config.js";

export interface VisionLayerParams {
  readonly norm1: LayerNormParams;
  readonly attn: { readonly qkv: LinearParams; readonly proj: LinearParams };
  /** Per-channel layer scale of the attention branch [D]. */
  readonly ls1: Tensor;
  readonly norm2: LayerNormParams;
  readonly mlp: GeluMlpParams;
  readonly ls2: Tensor;
}

export interface VisionParams {
  /** [1, 1, D] */
  readonly classEmbedding: Tensor;
  /** [1, 1 + grid², D]: the class token's, then the patches' row-major. */
  readonly positionEmbedding: Tensor;
  readonly patchEmbed: PatchEmbedParams;
  readonly layers: readonly VisionLayerParams[];
}

/** mlp1: LayerNorm(4D) → Linear(4D→d) → GELU → Linear(d→d). */
export interface ProjectorParams {
  readonly norm: LayerNormParams;
  readonly fc1: LinearParams;
  readonly fc2: LinearParams;
}

export interface DecoderLayerParams {
  readonly inputNorm: RMSNormParams;
  readonly attn: AttentionParams;
  readonly postNorm: RMSNormParams;
  readonly mlp: SwiGluParams;
}

export interface LanguageParams {
  readonly embed: EmbeddingParams;
  readonly layers: readonly DecoderLayerParams[];
  readonly norm: RMSNormParams;
  /** Absent: the head is tied to `embed`. */
  readonly lmHead?: LinearParams;
}

export interface InternVLParams {
  readonly vision: VisionParams;
  readonly projector: ProjectorParams;
  readonly language: LanguageParams;
}

export type ParamPath = readonly (string | number)[];

export type Init = { readonly kind: "normal"; readonly std: number } | { readonly kind: "const"; readonly value: number };

export interface ParamSpec {
  readonly path: ParamPath;
  readonly shape: readonly number[];
  readonly init: Init;
  /** Checkpoint tensors per layout; several are concatenated on axis 0. */
  readonly names: Readonly<Record<Layout, readonly string[]>>;
  /** The checkpoint holds the transpose (a linear layer's [out, in] weight for our [in, out] kernel). */
  readonly transposed: boolean;
  /** Only the lm_head: when a checkpoint lacks it, the head is tied to the embeddings. */
  readonly optional?: boolean;
}

const zeros: Init = { kind: "const", value: 0 };
const ones: Init = { kind: "const", value: 1 };

/**
 * Every parameter of `c`, in checkpoint order. "-hf" names are those of
 * current transformers (`model.vision_tower.`, `model.language_model.`,
 * `lm_head.`); `hfLegacyName` maps them to the older spelling.
 */
export function paramSpecs(c: InternVLConfig): ParamSpec[] {
  const specs: ParamSpec[] = [];
  const add = (
    path: ParamPath,
    shape: number[],
    init: Init,
    original: string,
    hf: string | string[],
    opts: { optional?: boolean; transposed?: boolean } = {},
  ) =>
    specs.push({
      path,
      shape,
      init,
      names: { original: [original], hf: typeof hf === "string" ? [hf] : hf },
      transposed: opts.transposed ?? false,
      optional: opts.optional ?? false,
    });
  /** kernel [in, out] (stored as weight [out, in]) and optional bias of a linear layer. */
  const linear = (
    path: ParamPath,
    original: string,
    hf: string | string[],
    out: number,
    inDim: number,
    bias: boolean,
    std: number,
    optional = false,
  ) => {
    const names = (suffix: string) => (typeof hf === "string" ? `${hf}.${suffix}` : hf.map((n) => `${n}.${suffix}`));
    add([...path, "kernel"], [inDim, out], { kind: "normal", std }, `${original}.weight`, names("weight"), { transposed: true, optional });
    if (bias) add([...path, "bias"], [out], zeros, `${original}.bias`, names("bias"), { optional });
  };
  const layerNorm = (path: ParamPath, original: string, hf: string, dim: number) => {
    add([...path, "weight"], [dim], ones, `${original}.weight`, `${hf}.weight`);
    add([...path, "bias"], [dim], zeros, `${original}.bias`, `${hf}.bias`);
  };

  // InternViT
  const v = c.vision,
    D = v.hiddenSize,
    vStd = v.initializerRange,
    grid = v.imageSize / v.patchSize;
  const ve = "vision_model.embeddings",
    he = "model.vision_tower.embeddings";
  add(["vision", "classEmbedding"], [1, 1, D], { kind: "normal", std: vStd }, `${ve}.class_embedding`, `${he}.cls_token`);
  add(
    ["vision", "positionEmbedding"],
    [1, 1 + grid * grid, D],
    { kind: "normal", std: vStd },
    `${ve}.position_embedding`,
    `${he}.position_embeddings`,
  );
  add(
    ["vision", "patchEmbed", "weight"],
    [D, v.numChannels, v.patchSize, v.patchSize],
    { kind: "normal", std: vStd },
    `${ve}.patch_embedding.weight`,
    `${he}.patch_embeddings.projection.weight`,
  );
  add(["vision", "patchEmbed", "bias"], [D], zeros, `${ve}.patch_embedding.bias`, `${he}.patch_embeddings.projection.bias`);
  for (let i = 0; i < v.numLayers; i++) {
    const p = ["vision", "layers", i],
      o = `vision_model.encoder.layers.${i}`,
      h = `model.vision_tower.encoder.layer.${i}`;
    layerNorm([...p, "norm1"], `${o}.norm1`, `${h}.layernorm_before`, D);
    linear(
      [...p, "attn", "qkv"],
      `${o}.attn.qkv`,
      ["q_proj", "k_proj", "v_proj"].map((n) => `${h}.attention.${n}`),
      3 * D,
      D,
      v.qkvBias,
      vStd,
    );
    linear([...p, "attn", "proj"], `${o}.attn.proj`, `${h}.attention.projection_layer`, D, D, true, vStd);
    add([...p, "ls1"], [D], { kind: "const", value: v.layerScaleInit }, `${o}.ls1`, `${h}.lambda_1`);
    layerNorm([...p, "norm2"], `${o}.norm2`, `${h}.layernorm_after`, D);
    linear([...p, "mlp", "fc1"], `${o}.mlp.fc1`, `${h}.mlp.fc1`, v.intermediateSize, D, true, vStd);
    linear([...p, "mlp", "fc2"], `${o}.mlp.fc2`, `${h}.mlp.fc2`, D, v.intermediateSize, true, vStd);
    add([...p, "ls2"], [D], { kind: "const", value: v.layerScaleInit }, `${o}.ls2`, `${h}.lambda_2`);
  }

  // projector
  const t = c.text,
    d = t.hiddenSize,
    tStd = t.initializerRange,
    wide = D / (c.downsampleRatio * c.downsampleRatio);
  layerNorm(["projector", "norm"], "mlp1.0", "model.multi_modal_projector.layer_norm", wide);
  linear(["projector", "fc1"], "mlp1.1", "model.multi_modal_projector.linear_1", d, wide, true, tStd);
  linear(["projector", "fc2"], "mlp1.3", "model.multi_modal_projector.linear_2", d, d, true, tStd);

  // Qwen2 / Qwen3
  const lo = "language_model.model",
    lh = "model.language_model";
  add(
    ["language", "embed", "weight"],
    [t.vocabSize, d],
    { kind: "normal", std: tStd },
    `${lo}.embed_tokens.weight`,
    `${lh}.embed_tokens.weight`,
  );
  for (let i = 0; i < t.numLayers; i++) {
    const p = ["language", "layers", i],
      o = `${lo}.layers.${i}`,
      h = `${lh}.layers.${i}`;
    const rms = (path: ParamPath, name: string, dim: number) => add(path, [dim], ones, `${o}.${name}`, `${h}.${name}`);
    const proj = (key: string, name: string, out: number, inDim: number, bias: boolean) =>
      linear([...p, "attn", key], `${o}.self_attn.${name}`, `${h}.self_attn.${name}`, out, inDim, bias, tStd);
    rms([...p, "inputNorm", "weight"], "input_layernorm.weight", d);
    proj("q", "q_proj", t.numHeads * t.headDim, d, t.qkvBias);
    proj("k", "k_proj", t.numKvHeads * t.headDim, d, t.qkvBias);
    proj("v", "v_proj", t.numKvHeads * t.headDim, d, t.qkvBias);
    proj("o", "o_proj", d, t.numHeads * t.headDim, false);
    if (t.qkNorm) {
      rms([...p, "attn", "qNorm", "weight"], "self_attn.q_norm.weight", t.headDim);
      rms([...p, "attn", "kNorm", "weight"], "self_attn.k_norm.weight", t.headDim);
    }
    rms([...p, "postNorm", "weight"], "post_attention_layernorm.weight", d);
    const mlp = (key: string, name: string, out: number, inDim: number) =>
      linear([...p, "mlp", key], `${o}.mlp.${name}`, `${h}.mlp.${name}`, out, inDim, false, tStd);
    mlp("gate", "gate_proj", t.intermediateSize, d);
    mlp("up", "up_proj", t.intermediateSize, d);
    mlp("down", "down_proj", d, t.intermediateSize);
  }
  add(["language", "norm", "weight"], [d], ones, `${lo}.norm.weight`, `${lh}.norm.weight`);
  if (!t.tieWordEmbeddings) linear(["language", "lmHead"], "language_model.lm_head", "lm_head", t.vocabSize, d, false, tStd, true);
  return specs;
}

/** The pre-2025 transformers spelling of an "-hf" name (no `model.` prefix; the LM under `language_model.model.`). */
export function hfLegacyName(name: string): string {
  if (name.startsWith("model.language_model.")) return `language_model.model.${name.slice("model.language_model.".length)}`;
  if (name.startsWith("model.")) return name.slice("model.".length);
  if (name === "lm_head.weight") return "language_model.lm_head.weight";
  return name;
}

/** Number of parameters of a model with config `c`, from shapes alone (nothing is allocated). */
export function parameterCount(c: InternVLConfig): number {
  return paramSpecs(c).reduce((n, s) => n + sizeOf(s.shape), 0);
}

/** Read the leaf at `path` (undefined when any step is missing). */
export function getIn(tree: unknown, path: ParamPath): unknown {
  let node = tree;
  for (const k of path) {
    if (node === undefined || node === null) return undefined;
    node = (node as Record<string | number, unknown>)[k];
  }
  return node;
}

/** Set the leaf at `path`, creating objects (or arrays, for numeric keys) on the way. */
export function setIn(tree: Record<string, unknown>, path: ParamPath, value: unknown): void {
  let node: any = tree;
  path.forEach((k, i) => {
    if (i === path.length - 1) {
      node[k] = value;
      return;
    }
    node[k] ??= typeof path[i + 1] === "number" ? [] : {};
    node = node[k];
  });
}

/** Fresh parameters drawn from `seed`: each tensor from its own stream, keyed by its path. */
export function initParams(c: InternVLConfig, seed: number, dtype: DType = "float32"): InternVLParams {
  const tree: Record<string, unknown> = {};
  for (const s of paramSpecs(c)) {
    const value =
      s.init.kind === "normal"
        ? normalInit(subSeed(seed, s.path.join(".")), s.shape, s.init.std, dtype)
        : constantInit(s.shape, s.init.value, dtype);
    setIn(tree, s.path, value);
  }
  return tree as unknown as InternVLParams;
}

/**
 * The whole model as a pure function of (config, params, inputs): token
 * embeddings, with the <IMG_CONTEXT> positions replaced in order by the
 * image features, through the decoder to logits.
 */
import { ABSTRACT } from "../../ir/graph.js";
import { embedding } from "../../nn/embedding.js";
import { gather } from "../../ops/indexing.js";
import { concat, reshape, slice } from "../../ops/shape.js";
import { fromStorage, knownValues } from "../../ops/create.js";
import { AnchorError, DTypeError, ShapeError } from "../../tensor/errors.js";
import { fmt } from "../../tensor/shape.js";
import type { Tensor } from "../../tensor/tensor.js";
import type { InternVLConfig } from "./config.js";
import { imageFeatures } from "./connector.js";
import { decoder, lmHead, type DecoderCache } from "./language.js";
import type { InternVLParams } from "./params.js";

export interface ForwardInputs {
  /**
   * int32 [B, T] on the parameters' device, made from host values
   * (ag.tensor(ids, { dtype: "int32" })): their values decide where the image
   * features go, and ids made from host values are known without a GPU
   * readback (ops/create.ts knownValues). Pad batches on the right:
   * attention is causal, so padding never reaches earlier tokens.
   */
  readonly inputIds: Tensor;
  /** float [N, C, H, W]: every tile of every image, in the order their <IMG_CONTEXT> runs appear (row by row). */
  readonly pixelValues?: Tensor | null;
  /**
   * int32 [B·T]: for each position, its row of [text embeddings; image
   * tokens] (embedIndex below). Given, the forward reads no ids on the
   * host, so it can be traced by jit with the ids abstract.
   */
  readonly embedIndex?: Tensor | null;
}

/** A forward pass that does not fit the inputs (the message names the counts or ids). */
export class InputError extends AnchorError {
  override name = "InputError";
}

/**
 * Host copy of the ids, checked against the vocabulary. Their values decide
 * where the image features go, so they must be known on the host without a
 * readback: on the cpu, or made from host values on the GPU.
 */
export function readIds(c: InternVLConfig, ids: Tensor, device: string): Int32Array {
  if (ids.dtype !== "int32") throw new DTypeError(`internvl.forward: inputIds must be int32, got ${ids.dtype}`);
  if (ids.ndim !== 2) throw new ShapeError(`internvl.forward: inputIds must be [B, T], got ${fmt(ids.shape)}`);
  if (ids.device !== device)
    throw new InputError(
      `internvl.forward: inputIds live on ${ids.device} and the parameters on ${device}; make the ids there (ag.tensor(ids, { dtype: "int32", device: "${device}" })) or move them with ag.toBackend`,
    );
  const host = knownValues(ids) as Int32Array | null;
  if (!host)
    throw new InputError(
      `internvl.forward: inputIds were computed on ${ids.device}, so their values are not known on the host without a readback; make them from host values (ag.tensor(ids, { dtype: "int32" })): their values decide where the image features go`,
    );
  const V = c.text.vocabSize;
  for (let i = 0; i < host.length; i++) {
    const id = host[i]!;
    if (id < 0 || id >= V)
      throw new InputError(
        `internvl.forward: token id ${id} at [${Math.floor(i / ids.shape[1]!)}, ${i % ids.shape[1]!}] is outside the vocabulary of ${V}`,
      );
  }
  return host;
}

/**
 * Token embeddings [B, T, d] with the image features spliced in: the k-th
 * <IMG_CONTEXT> position (row-major over the batch) gets the k-th image
 * token. One gather from [text rows; image rows], so gradients reach both.
 *
 * Text-only ids are checked on the host (in the vocabulary, no image
 * tokens) except under a trace (jit), where they are abstract: whoever
 * traces checks them before (generate does, and the training adapter's
 * prepare), so that a jitted text-only forward reads nothing on the host.
 */
export function embedInputs(c: InternVLConfig, p: InternVLParams, inputs: ForwardInputs): Tensor {
  const [B, T] = inputs.inputIds.shape as [number, number];
  const given = inputs.embedIndex ?? null;
  const pixels = inputs.pixelValues ?? null;
  const traced = inputs.inputIds.device === ABSTRACT;
  const ids = given || (!pixels && traced) ? null : readIds(c, inputs.inputIds, p.language.embed.weight.device);
  const text = embedding(p.language.embed, inputs.inputIds);
  if (!pixels) {
    if (given) throw new InputError("internvl.forward: an embedIndex was given without pixelValues");
    if (ids) embedIndex(c, ids, 0, "no pixelValues were given"); // an error if there are image tokens
    return text;
  }
  const feats = imageFeatures(c, p, pixels); // [N, perTile, d]
  const [N, perTile, d] = feats.shape as [number, number, number];
  const index =
    given ??
    fromStorage(
      embedIndex(c, ids!, N * perTile, `pixelValues ${fmt(pixels.shape)} give ${N} tiles × ${perTile}`),
      [B * T],
      "int32",
      text.device,
    );
  const rows = concat([reshape(text, [B * T, d]), reshape(feats, [N * perTile, d])], 0);
  return reshape(gather(rows, index, 0), [B, T, d]);
}

/**
 * The gather index that splices image tokens into the text embeddings, from
 * the host ids [B·T]: position i takes text row i, except that the k-th
 * <IMG_CONTEXT> position (row-major) takes image token k, row B·T + k.
 * `imageTokens` must equal the number of such positions; `given` says where
 * they come from, for the error.
 */
export function embedIndex(c: InternVLConfig, ids: ArrayLike<number>, imageTokens: number, given: string): Int32Array {
  const index = Int32Array.from({ length: ids.length }, (_, i) => i);
  let k = 0;
  for (let i = 0; i < ids.length; i++) if (ids[i] === c.imageTokenId) index[i] = ids.length + k++;
  if (k !== imageTokens) {
    const total = imageTokens === 0 ? "" : ` = ${imageTokens} image tokens`;
    throw new InputError(`internvl.forward: inputIds hold ${k} <IMG_CONTEXT> tokens (id ${c.imageTokenId}) but ${given}${total}`);
  }
  return index;
}

export interface StepOptions {
  /** Continue from these cached positions (decoding). */
  readonly cache?: DecoderCache;
  /** Only the last position's logits ([B, 1, V]); what sampling needs. */
  readonly lastOnly?: boolean;
}

/** Logits plus the decoder cache covering every position so far. */
export function forwardWithCache(
  c: InternVLConfig,
  p: InternVLParams,
  inputs: ForwardInputs,
  opts: StepOptions = {},
): { logits: Tensor; cache: DecoderCache } {
  const T = inputs.inputIds.shape[1] ?? 0,
    start = opts.cache?.length ?? 0;
  if (start + T > c.text.maxPositionEmbeddings) {
    throw new InputError(
      `internvl.forward: ${start + T} positions exceed the context of ${c.text.maxPositionEmbeddings} (max_position_embeddings)`,
    );
  }
  const { hidden, cache } = decoder(c.text, p.language, embedInputs(c, p, inputs), opts.cache);
  const [B, , d] = hidden.shape as [number, number, number];
  const h = opts.lastOnly ? slice(hidden, [0, T - 1, 0], [B, T, d]) : hidden;
  return { logits: lmHead(p.language, h), cache };
}

/** logits [B, T, vocab]. Pure: `valueAndGrad` differentiates through it with respect to params. */
export function forward(c: InternVLConfig, p: InternVLParams, inputs: ForwardInputs): Tensor {
  return forwardWithCache(c, p, inputs).logits;
}

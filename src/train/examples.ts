/**
 * From data rows to model inputs. A row is encoded once into token ids
 * (prompt, chosen reply, rejected reply); a batch of B pairs becomes one
 * right-padded batch of 2B sequences, chosen rows first, so chosen and
 * rejected go through the model together.
 */
import { concat } from "../ops/shape.js";
import { tensor } from "../ops/create.js";
import type { Tensor } from "../tensor/tensor.js";
import { DataError } from "../data/errors.js";
import type { PreferenceRow } from "../data/mpo.js";
import type { PixelCache } from "./images.js";
import type { ModelInputs, VisionLanguageModel } from "./model.js";

export interface Example {
  /** Position in the data set (for the reference cache and error messages). */
  index: number;
  row: PreferenceRow;
  /** Tiles per image, known once the images were loaded. */
  tiles: number[];
  prompt: number[];
  chosen: number[];
  /** null for SFT rows. */
  rejected: number[] | null;
}

/** Encode every row (loading each image once to learn its tile count). */
export async function encodeRows(model: VisionLanguageModel<any>, rows: readonly PreferenceRow[], pixels: PixelCache): Promise<Example[]> {
  const out: Example[] = [];
  for (const [index, row] of rows.entries()) {
    const tiles = row.images.length
      ? (
          await pixels.get(row.images).catch((e: Error) => {
            throw new DataError(row.source.file, row.source.line, `cannot load image ${row.images.join(", ")}: ${e.message}`);
          })
        ).tiles
      : [];
    const chosen = model.encodeReply(row.chosen);
    const rejected = row.rejected === null ? null : model.encodeReply(row.rejected);
    if (chosen.length === 0 || rejected?.length === 0)
      throw new DataError(row.source.file, row.source.line, "a reply encodes to no tokens");
    out.push({ index, row, tiles, prompt: model.encodePrompt(row.question, tiles), chosen, rejected });
  }
  return out;
}

/** Token rows are padded to a multiple of this (see collate). */
export const PAD_MULTIPLE = 16;

/** One sequence to score: prompt ids, then completion ids (the tokens that are scored). */
export interface Sequence {
  prompt: readonly number[];
  completion: readonly number[];
  images: readonly string[];
}

export interface Collated {
  inputs: ModelInputs;
  /** [N, T] int32: the ids themselves (logits at t score labels at t + 1). */
  labels: Tensor;
  /** [N, T] float32: 1 where labels[t] is a completion token. */
  mask: Tensor;
}

/** The cached pixel tensors of each sequence's images (async; call it before entering a scope). */
export async function gatherPixels(seqs: readonly Sequence[], pixels: PixelCache): Promise<(Tensor | null)[]> {
  const out: (Tensor | null)[] = [];
  for (const s of seqs) out.push(s.images.length ? (await pixels.get(s.images)).pixelValues : null);
  return out;
}

/**
 * Right-pad sequences into one batch with their pixels in row order. Call
 * it inside the step's scope: the tensors it makes are the step's, made on
 * `device` (the parameters' backend; default the current one).
 * `blank` (one tile, [1, C, H, W]) replaces every tile. Rows are padded to
 * the longest sequence rounded up to a multiple of PAD_MULTIPLE, so that
 * batches share few shapes (each new shape costs a jit trace) and every
 * path that scores a sequence (training, reference, evaluation) pads it the
 * same way, so their sums round alike. Right padding is exact: attention is
 * causal and padded tokens are not scored.
 */
export function collate(
  padId: number,
  seqs: readonly Sequence[],
  pixels: readonly (Tensor | null)[],
  blank?: Tensor,
  device?: string,
): Collated {
  const T = Math.ceil(Math.max(...seqs.map((s) => s.prompt.length + s.completion.length)) / PAD_MULTIPLE) * PAD_MULTIPLE;
  const N = seqs.length;
  const ids = new Int32Array(N * T).fill(padId);
  const mask = new Float32Array(N * T),
    attn = new Float32Array(N * T);
  seqs.forEach((s, i) => {
    const all = [...s.prompt, ...s.completion];
    ids.set(all, i * T);
    attn.fill(1, i * T, i * T + all.length);
    mask.fill(1, i * T + s.prompt.length, i * T + all.length);
  });
  const tiles = pixels
    .filter((p): p is Tensor => p !== null)
    .map((px) =>
      blank
        ? concat(
            Array.from({ length: px.shape[0]! }, () => blank),
            0,
          )
        : px,
    );
  return {
    inputs: {
      inputIds: tensor(ids, { shape: [N, T], dtype: "int32", device }),
      pixelValues: tiles.length === 0 ? null : tiles.length === 1 ? tiles[0]! : concat(tiles, 0),
      attentionMask: tensor(attn, { shape: [N, T], dtype: "float32", device }),
    },
    labels: tensor(ids, { shape: [N, T], dtype: "int32", device }),
    mask: tensor(mask, { shape: [N, T], dtype: "float32", device }),
  };
}

/** The 2B sequences of a batch of pairs: chosen rows, then rejected rows (B sequences for SFT rows). */
export function pairSequences(batch: readonly Example[]): Sequence[] {
  const chosen = batch.map((e) => ({ prompt: e.prompt, completion: e.chosen, images: e.row.images }));
  if (batch.every((e) => e.rejected === null)) return chosen;
  return [...chosen, ...batch.map((e) => ({ prompt: e.prompt, completion: e.rejected!, images: e.row.images }))];
}

/**
 * The data rows' numeric extra columns (a JSONL row's "weight": 0.5), one
 * value per example, which the loop hands to the objective as
 * batch.columns. A column must be in every row: a batch cannot hold a
 * per-pair value for some pairs only, and silently filling in a default
 * would train on a weight the user never gave.
 */
export function dataColumns(examples: readonly Example[]): Record<string, number[]> {
  const names = new Map<string, Example>(); // each column's first row, for the error message
  for (const e of examples) for (const k of Object.keys(e.row.columns ?? {})) if (!names.has(k)) names.set(k, e);
  const out: Record<string, number[]> = {};
  for (const [name, first] of names) {
    out[name] = examples.map((e) => {
      const v = e.row.columns?.[name];
      if (v === undefined) {
        const at = (x: Example) => `${x.row.source.file}:${x.row.source.line}`;
        throw new DataError(
          e.row.source.file,
          e.row.source.line,
          `column "${name}" is missing, but ${at(first)} has it; a numeric column reaches the objective (batch.columns.${name}) only when every row has it`,
        );
      }
      return v;
    });
  }
  return out;
}

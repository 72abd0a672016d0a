/**
 * Evaluation.
 *
 * POPE: each question is answered "yes" or "no" by comparing the model's
 * log-probabilities of the two answers' first tokens right after the prompt
 * (one forward pass per question, no sampling). Scores follow POPE, with
 * "yes" as the positive class: accuracy, precision, recall, F1 and the
 * share of "yes" answers.
 *
 * Visual reliance: the mean over pairs of log p(chosen | image) −
 * log p(chosen | blank image), in nats per reply. A model whose answers
 * follow the image scores high; a model that answers from its language
 * prior alone scores about 0. Its fall under preference training is the
 * measurable face of "Visual Anchor Collapse".
 *
 * Both run the model jitted (ag.jit; visual reliance through scoring.ts),
 * one compiled program per batch shape: collate pads every batch to a
 * multiple of 16 tokens, so a run compiles a few programs, not one per
 * question length. evaluatePope's `jit: false` runs its forward op by op.
 */
import { jit, type Jitted } from "../ir/jit.js";
import type { PopeRow } from "../data/pope.js";
import type { PreferenceRow } from "../data/mpo.js";
import { gather } from "../ops/indexing.js";
import { logSoftmax } from "../ops/rows.js";
import { sub } from "../ops/elementwise.js";
import { deviceOf, toBackend } from "../ops/move.js";
import { concat, reshape, slice } from "../ops/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import { tensor } from "../ops/create.js";
import { AnchorError } from "../tensor/errors.js";
import { scope } from "../tensor/scope.js";
import { gatherPixels, type Sequence } from "./examples.js";
import { PixelCache } from "./images.js";
import type { ModelInputs, VisionLanguageModel } from "./model.js";
import { scoreAll, stageSequences } from "./scoring.js";

export interface PopeScores {
  accuracy: number;
  precision: number;
  recall: number;
  f1: number;
  yesRatio: number;
  n: number;
}

/** POPE's scores from labels and predictions (true = "yes"). */
export function popeScores(labels: readonly boolean[], predictions: readonly boolean[]): PopeScores {
  let tp = 0,
    fp = 0,
    tn = 0,
    fn = 0;
  labels.forEach((l, i) => {
    const p = predictions[i]!;
    if (p && l) tp++;
    else if (p && !l) fp++;
    else if (!p && !l) tn++;
    else fn++;
  });
  const n = labels.length;
  const precision = tp + fp ? tp / (tp + fp) : 0,
    recall = tp + fn ? tp / (tp + fn) : 0;
  return {
    accuracy: n ? (tp + tn) / n : 0,
    precision,
    recall,
    f1: precision + recall ? (2 * precision * recall) / (precision + recall) : 0,
    yesRatio: n ? (tp + fp) / n : 0,
    n,
  };
}

/** The first token of each answer; they must differ. */
function answerTokens(model: VisionLanguageModel<any>): [number, number] {
  const yes = model.encodeReply("Yes")[0],
    no = model.encodeReply("No")[0];
  if (yes === undefined || no === undefined || yes === no)
    throw new AnchorError(`evaluatePope: "Yes" and "No" must start with different tokens, got ${yes} and ${no}`);
  return [yes, no];
}

/**
 * The POPE pass: params, a staged batch of N prompts and, for each, the row
 * of its last prompt position in [N·T] -> log p(yes) − log p(no) there, [N].
 */
type PopePass = (params: unknown, inputs: ModelInputs, rows: Tensor) => Tensor;

const popePasses = new WeakMap<VisionLanguageModel<any>, { eager: PopePass; jitted: Jitted<PopePass> }>();

/** The model's POPE pass, eager and jitted (once per model: one compiled program per batch shape). */
export function popePass<P>(model: VisionLanguageModel<P>): { eager: PopePass; jitted: Jitted<PopePass> } {
  let pass = popePasses.get(model);
  if (!pass) {
    const [yes, no] = answerTokens(model);
    const eager: PopePass = (params, inputs, rows) => {
      const logits = model.forward(params as P, inputs);
      const [N, T, V] = logits.shape as [number, number, number];
      const lp = logSoftmax(gather(reshape(logits, [N * T, V]), rows, 0), -1);
      return reshape(sub(slice(lp, [0, yes], [N, yes + 1]), slice(lp, [0, no], [N, no + 1])), [N]);
    };
    pass = { eager, jitted: jit(eager) };
    popePasses.set(model, pass);
  }
  return pass;
}

/** For each prompt, log p(yes-token) − log p(no-token) at the position after the prompt. */
export async function yesNoMargins<P>(
  model: VisionLanguageModel<P>,
  params: P,
  prompts: readonly Sequence[],
  cache: PixelCache,
  batchSize: number,
  opts: { jit?: boolean } = {},
): Promise<number[]> {
  answerTokens(model); // refuse a model whose answers start alike before any work
  if (prompts.length === 0) return [];
  const pass = opts.jit === false ? popePass(model).eager : popePass(model).jitted;
  const device = deviceOf(params, "evaluatePope: the parameters") ?? undefined;
  const margins: Tensor[] = []; // per batch, on the device until one read at the end
  try {
    for (let i = 0; i < prompts.length; i += batchSize) {
      const part = prompts.slice(i, i + batchSize);
      const px = await gatherPixels(part, cache);
      margins.push(
        scope(() => {
          const c = stageSequences(model, part, px, device);
          const T = c.inputs.inputIds.shape[1]!;
          const rows = tensor(
            part.map((s, k) => k * T + s.prompt.length - 1),
            { dtype: "int32", device },
          );
          return pass(params, c.inputs, rows);
        }),
      );
    }
    const all = scope(() => concat(margins, 0));
    const values = Array.from(await all.data());
    all.dispose();
    return values;
  } finally {
    for (const m of margins) m.dispose();
  }
}

export interface PopeOptions {
  /** Prompts per forward pass (default 16). */
  batchSize?: number;
  /** Default true: the forward is jitted, one program per batch shape; false runs it op by op (same numbers). */
  jit?: boolean;
}

/** POPE scores per split. */
export async function evaluatePope<P>(
  model: VisionLanguageModel<P>,
  params: P,
  splits: Record<string, readonly PopeRow[]>,
  opts: PopeOptions = {},
): Promise<Record<string, PopeScores>> {
  const cache = new PixelCache(model, undefined, deviceOf(params, "evaluatePope: the parameters") ?? undefined);
  try {
    // the same (image, question) appears in several splits (the positives): answer it once
    const unique = new Map<string, PopeRow>();
    for (const rows of Object.values(splits)) for (const r of rows) unique.set(`${r.image}\0${r.question}`, r);
    const keys = [...unique.keys()];
    const prompts: Sequence[] = [];
    for (const k of keys) {
      const r = unique.get(k)!;
      const { tiles } = await cache.get([r.image]);
      prompts.push({ prompt: model.encodePrompt(r.question, tiles), completion: [], images: [r.image] });
    }
    const margins = await yesNoMargins(model, params, prompts, cache, opts.batchSize ?? 16, { jit: opts.jit ?? true });
    const saysYes = new Map(keys.map((k, i) => [k, margins[i]! > 0]));
    return Object.fromEntries(
      Object.entries(splits).map(([name, rows]) => [
        name,
        popeScores(
          rows.map((r) => r.label === "yes"),
          rows.map((r) => saysYes.get(`${r.image}\0${r.question}`)!),
        ),
      ]),
    );
  } finally {
    await cache.clear();
  }
}

/** Mean over rows of log p(chosen | image) − log p(chosen | blank image). */
export async function visualReliance<P>(
  model: VisionLanguageModel<P>,
  params: P,
  rows: readonly PreferenceRow[],
  opts: { batchSize?: number } = {},
): Promise<number> {
  const withImages = rows.filter((r) => r.images.length > 0);
  if (withImages.length === 0) throw new AnchorError("visualReliance: no row has an image");
  const device = deviceOf(params, "visualReliance: the parameters") ?? undefined;
  const cache = new PixelCache(model, undefined, device);
  const made = await model.blankImage();
  const blank = device === undefined ? made : { ...made, pixelValues: await toBackend(made.pixelValues, device) };
  if (blank.pixelValues !== made.pixelValues) made.pixelValues.dispose();
  try {
    const seqs: Sequence[] = [];
    for (const r of withImages) {
      const { tiles } = await cache.get(r.images);
      seqs.push({ prompt: model.encodePrompt(r.question, tiles), completion: model.encodeReply(r.chosen), images: r.images });
    }
    const bs = opts.batchSize ?? 16;
    const seen = await scoreAll(model, params, seqs, cache, bs);
    const unseen = await scoreAll(model, params, seqs, cache, bs, blank.pixelValues);
    return seen.reduce((s, v, i) => s + v - unseen[i]!, 0) / seqs.length;
  } finally {
    blank.pixelValues.dispose();
    await cache.clear();
  }
}

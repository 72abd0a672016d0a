/**
 * Evaluation during training (the config's evalData / evalEvery): the
 * objective's loss and metrics over held-out pairs, with the parameters of
 * the moment, logged as "eval/<name>" in the step's metrics row. It runs the
 * model without a tape (scoreAll) and scores every pair once per
 * evaluation; the reference log-probs are computed once, up front.
 */
import { tensor } from "../ops/create.js";
import { deviceOf } from "../ops/move.js";
import type { PreferenceRow } from "../data/mpo.js";
import type { Objective, PreferenceBatch } from "../objectives/types.js";
import { scope } from "../tensor/scope.js";
import { CorruptedPixelCache } from "./corrupt.js";
import { encodeRows, type Example } from "./examples.js";
import { PixelCache } from "./images.js";
import type { MetricRow } from "./metrics.js";
import { readScalars } from "./on-device.js";
import type { VisionLanguageModel } from "./model.js";
import { referenceLogps } from "./reference.js";
import { scoreAll } from "./scoring.js";

export interface PairEvaluator<P> {
  run(params: P): Promise<MetricRow>;
  /** Release the evaluator's pixels. */
  dispose(): Promise<void>;
}

export interface PairEvaluatorOptions<P> {
  /** The reference parameters (null: a reference-free objective). */
  reference: P | null;
  /** Sequences per forward pass. */
  batchSize: number;
  /** Score the chosen replies with a corrupted image too (mdpo). */
  corruptedImage?: boolean;
  seed?: number;
  /** Where the reference log-probs of the eval pairs are cached. */
  referenceCache?: string;
}

export async function pairEvaluator<P>(
  model: VisionLanguageModel<P>,
  objective: Objective,
  rows: readonly PreferenceRow[],
  o: PairEvaluatorOptions<P>,
): Promise<PairEvaluator<P>> {
  const pixels = new PixelCache(
    model,
    undefined,
    (o.reference && deviceOf(o.reference, "pairEvaluator: the reference parameters")) ?? undefined,
  );
  const examples = await encodeRows(model, rows, pixels);
  const side = (which: "chosen" | "rejected") =>
    examples.map((e: Example) => ({ prompt: e.prompt, completion: e[which] ?? e.chosen, images: e.row.images }));
  const corrupted = o.corruptedImage ? new CorruptedPixelCache(model, pixels, o.seed ?? 0) : null;
  const ref = o.reference === null ? null : await referenceLogps(model, o.reference, examples, pixels, o.batchSize, o.referenceCache);
  const refNoImage = corrupted && o.reference !== null ? await scoreAll(model, o.reference, side("chosen"), corrupted, o.batchSize) : null;
  const lengths = (which: "chosen" | "rejected") => examples.map((e) => (e[which] ?? e.chosen).length);

  return {
    async run(params) {
      const chosen = await scoreAll(model, params, side("chosen"), pixels, o.batchSize);
      const rejected = await scoreAll(model, params, side("rejected"), pixels, o.batchSize);
      const noImage = corrupted ? await scoreAll(model, params, side("chosen"), corrupted, o.batchSize) : null;
      // the scores' summary is computed where the parameters live and read back once
      const device = deviceOf(params, "pairEvaluator: the parameters") ?? undefined;
      const at = (xs: readonly number[]) => tensor(xs, { device });
      return scope(async () => {
        const batch: PreferenceBatch = {
          policyChosenLogps: at(chosen),
          policyRejectedLogps: at(rejected),
          chosenLengths: at(lengths("chosen")),
          rejectedLengths: at(lengths("rejected")),
          ...(ref && { refChosenLogps: at(ref.chosen), refRejectedLogps: at(ref.rejected) }),
          ...(noImage && { policyChosenLogpsNoImage: at(noImage) }),
          ...(refNoImage && { refChosenLogpsNoImage: at(refNoImage) }),
        };
        const r = objective(batch);
        const read = await readScalars({ loss: r.loss, ...r.metrics });
        return Object.fromEntries(Object.entries(read).map(([k, v]) => [`eval/${k}`, v])) as MetricRow;
      });
    },
    async dispose() {
      await corrupted?.clear();
      await pixels.clear();
    },
  };
}

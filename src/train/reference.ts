/**
 * Reference log-probs, computed once before training (TRL's
 * `precompute_ref_log_probs`): the reference model runs over every pair
 * without a tape, and the results are stored with a fingerprint of the data
 * and of the reference parameters. A later run (a resume, or another
 * objective on the same pairs from the same reference) reads them back
 * instead of recomputing; a changed model or data set is a cache miss.
 */
import { createHash } from "node:crypto";
import { rename, writeFile } from "node:fs/promises";
import { readRegularText } from "../io/files.js";
import type { Example } from "./examples.js";
import type { PixelCache } from "./images.js";
import type { VisionLanguageModel } from "./model.js";
import { paramsFingerprint, scoreAll } from "./scoring.js";

export interface ReferenceLogps {
  chosen: number[];
  rejected: number[];
}

/** Two numbers per pair as JSON: ten million pairs fit. */
const MAX_CACHE_BYTES = 1 << 30;

function dataFingerprint(examples: readonly Example[]): string {
  const h = createHash("sha256");
  for (const e of examples) h.update(JSON.stringify([e.row.images, e.prompt, e.chosen, e.rejected]));
  return h.digest("hex");
}

export async function referenceLogps<P>(
  model: VisionLanguageModel<P>,
  params: P,
  examples: readonly Example[],
  cache: PixelCache,
  batchSize: number,
  file?: string,
): Promise<ReferenceLogps> {
  const fingerprint = `${dataFingerprint(examples)}:${await paramsFingerprint(params)}`;
  if (file) {
    // any unreadable cache (missing, corrupt, not a regular file) is a miss: it is recomputed and replaced
    const cached = await readRegularText(file, { maxBytes: MAX_CACHE_BYTES }, (why) => new Error(why)).then(
      (t) => JSON.parse(t) as ReferenceLogps & { fingerprint: string },
      () => null,
    );
    if (cached?.fingerprint === fingerprint) return { chosen: cached.chosen, rejected: cached.rejected };
  }
  const seqs = (which: "chosen" | "rejected") => examples.map((e) => ({ prompt: e.prompt, completion: e[which]!, images: e.row.images }));
  const ref = {
    chosen: await scoreAll(model, params, seqs("chosen"), cache, batchSize),
    rejected: await scoreAll(model, params, seqs("rejected"), cache, batchSize),
  };
  if (file) {
    await writeFile(`${file}.tmp`, JSON.stringify({ fingerprint, ...ref }));
    await rename(`${file}.tmp`, file);
  }
  return ref;
}

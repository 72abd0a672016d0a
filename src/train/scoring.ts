/** Per-sequence log-probs of completions under a model, with or without a tape. */
import { createHash } from "node:crypto";
import { sequenceLogps } from "../objectives/sequence-logps.js";
import { deviceOf } from "../ops/move.js";
import { concat } from "../ops/shape.js";
import { scope } from "../tensor/scope.js";
import { treeLeaves } from "../tensor/pytree.js";
import type { Tensor } from "../tensor/tensor.js";
import { collate, gatherPixels, type Sequence } from "./examples.js";
import type { PixelCache } from "./images.js";
import type { VisionLanguageModel } from "./model.js";

/** { sum [N], count [N] } for the completions of `seqs` (differentiable in params; call inside a scope). */
export function scoreSequences<P>(
  model: VisionLanguageModel<P>,
  params: P,
  seqs: readonly Sequence[],
  pixels: readonly (Tensor | null)[],
  blank?: Tensor,
): { sum: Tensor; count: Tensor } {
  const device = deviceOf(params, "the model's parameters") ?? undefined;
  const c = collate(model.padId, seqs, pixels, blank, device);
  return sequenceLogps(model.forward(params, c.inputs), c.labels, c.mask);
}

/**
 * Summed completion log-probs as plain numbers, in batches of `batchSize`,
 * without a tape. `blank` scores every sequence against the blank image.
 * The batches' sums stay on the device until one read at the end.
 */
export async function scoreAll<P>(
  model: VisionLanguageModel<P>,
  params: P,
  seqs: readonly Sequence[],
  cache: PixelCache,
  batchSize: number,
  blank?: Tensor,
): Promise<number[]> {
  if (seqs.length === 0) return [];
  const sums: Tensor[] = [];
  try {
    for (let i = 0; i < seqs.length; i += batchSize) {
      const part = seqs.slice(i, i + batchSize);
      const px = await gatherPixels(part, cache);
      sums.push(scope(() => scoreSequences(model, params, part, px, blank).sum));
    }
    const all = scope(() => concat(sums, 0));
    const values = Array.from(await all.data());
    all.dispose();
    return values;
  } finally {
    for (const t of sums) t.dispose();
  }
}

/** A content hash of a parameter pytree (shapes, dtypes and values). */
export async function paramsFingerprint(params: unknown): Promise<string> {
  const h = createHash("sha256");
  for (const t of treeLeaves(params)) {
    h.update(`${t.dtype}[${t.shape.join(",")}]`);
    const d = await t.data();
    h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  return h.digest("hex");
}

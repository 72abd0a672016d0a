/** Per-sequence log-probs of completions under a model, with or without a tape. */
import { createHash } from "node:crypto";
import { jit } from "../ir/jit.js";
import { sequenceLogps } from "../objectives/sequence-logps.js";
import { deviceOf } from "../ops/move.js";
import { concat } from "../ops/shape.js";
import { scope } from "../tensor/scope.js";
import { treeLeaves } from "../tensor/pytree.js";
import type { Tensor } from "../tensor/tensor.js";
import { collate, gatherPixels, type Collated, type Sequence } from "./examples.js";
import type { PixelCache } from "./images.js";
import type { VisionLanguageModel } from "./model.js";

type Scorer = (params: unknown, c: Collated) => { sum: Tensor; count: Tensor };
const scorers = new WeakMap<VisionLanguageModel<any>, Scorer>();

/** The model's scoring pass, jitted once per model: one compiled program per batch shape (collate pads lengths to buckets). */
function scorer<P>(model: VisionLanguageModel<P>): Scorer {
  let s = scorers.get(model);
  if (!s) {
    s = jit((params: unknown, c: Collated) => sequenceLogps(model.forward(params as P, c.inputs), c.labels, c.mask));
    scorers.set(model, s);
  }
  return s;
}

/**
 * The host half of scoring a batch: sequences collated on `device` and
 * prepared by the model (its host-side work on the ids), ready for a jitted
 * pass. Training (pass.ts) and scoring stage their batches here.
 */
export function stageSequences<P>(
  model: VisionLanguageModel<P>,
  seqs: readonly Sequence[],
  pixels: readonly (Tensor | null)[],
  device: string | undefined,
  blank?: Tensor,
): Collated {
  const c = collate(model.padId, seqs, pixels, blank, device);
  return model.prepare ? { ...c, inputs: model.prepare(c.inputs) } : c;
}

/**
 * { sum [N], count [N] } for the completions of `seqs`, call inside a scope.
 * Jitted; under a gradient transform (params traced) it runs op by op, so it
 * stays differentiable in params.
 */
export function scoreSequences<P>(
  model: VisionLanguageModel<P>,
  params: P,
  seqs: readonly Sequence[],
  pixels: readonly (Tensor | null)[],
  blank?: Tensor,
): { sum: Tensor; count: Tensor } {
  const device = deviceOf(params, "the model's parameters") ?? undefined;
  return scorer(model)(params, stageSequences(model, seqs, pixels, device, blank));
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

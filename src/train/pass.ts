/**
 * One forward/backward pass of a training step, split so that it can be
 * jitted: `makeFeed` does the host work (collating token ids, splicing
 * indices, gathering reference log-probs) into a pytree of tensors, and
 * `passFunction` maps (params, feed) to the loss, the gradients and the
 * objective's metrics with tensor ops only. jit(passFunction(...)) then
 * compiles the pass once per feed signature (collate pads sequences so that
 * few occur).
 */
import { stopGradient, valueAndGrad } from "../autograd/transforms.js";
import type { Objective, PreferenceBatch } from "../objectives/types.js";
import { sequenceLogps } from "../objectives/sequence-logps.js";
import { cast } from "../ops/cast.js";
import { slice } from "../ops/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import { collate, type Collated, type Sequence } from "./examples.js";
import type { VisionLanguageModel } from "./model.js";

export interface Feed {
  readonly main: Collated;
  /** The chosen replies scored against corrupted images (mDPO), or null. */
  readonly noImage: Collated | null;
  readonly ref: { readonly chosen: Tensor; readonly rejected: Tensor } | null;
  readonly refNoImage: Tensor | null;
}

/** The host half of a pass: every input of the pass as tensors on `device`. */
export function makeFeed<P>(
  model: VisionLanguageModel<P>,
  seqs: readonly Sequence[],
  pixels: readonly (Tensor | null)[],
  noImage: { seqs: readonly Sequence[]; pixels: readonly (Tensor | null)[] } | null,
  refs: Pick<Feed, "ref" | "refNoImage">,
  device: string | undefined,
): Feed {
  const staged = (s: readonly Sequence[], px: readonly (Tensor | null)[]): Collated => {
    const c = collate(model.padId, s, px, undefined, device);
    return model.prepare ? { ...c, inputs: model.prepare(c.inputs) } : c;
  };
  return { main: staged(seqs, pixels), noImage: noImage && staged(noImage.seqs, noImage.pixels), ...refs };
}

export interface PassResult<P> {
  loss: Tensor;
  grads: P;
  metrics: Record<string, Tensor>;
}

/** The device half of a pass: loss, gradients and metrics from params and a feed (tensor ops only). */
export function passFunction<P>(
  model: VisionLanguageModel<P>,
  objective: Objective,
  sft: boolean,
): (params: P, feed: Feed) => PassResult<P> {
  const score = (p: P, c: Collated) => sequenceLogps(model.forward(p, c.inputs), c.labels, c.mask);
  return (params, feed) => {
    let metrics: Record<string, Tensor> = {};
    const [loss, grads] = valueAndGrad((p: P) => {
      const { sum, count } = score(p, feed.main);
      const B = sft ? sum.shape[0]! : sum.shape[0]! / 2;
      const side = (t: Tensor, k: 0 | 1) => (sft ? t : slice(t, [k * B], [(k + 1) * B]));
      const batch: PreferenceBatch = {
        policyChosenLogps: side(sum, 0),
        policyRejectedLogps: side(sum, 1),
        chosenLengths: side(count, 0),
        rejectedLengths: side(count, 1),
        ...(feed.noImage && { policyChosenLogpsNoImage: score(p, feed.noImage).sum }),
        ...(feed.refNoImage && { refChosenLogpsNoImage: cast(feed.refNoImage, sum.dtype) }),
        ...(feed.ref && { refChosenLogps: cast(feed.ref.chosen, sum.dtype), refRejectedLogps: cast(feed.ref.rejected, sum.dtype) }),
      };
      const r = objective(batch);
      metrics = r.metrics;
      return r.loss;
    })(params);
    // metrics are read, not differentiated: their values without the pass's tape
    return { loss, grads, metrics: Object.fromEntries(Object.entries(metrics).map(([k, t]) => [k, stopGradient(t)])) };
  };
}

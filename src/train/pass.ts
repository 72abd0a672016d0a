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
import type { TrlState } from "../objectives/trl/index.js";
import type { Objective, ObjectiveResult, PreferenceBatch } from "../objectives/types.js";
import { completionLogitSums, sequenceLogps } from "../objectives/sequence-logps.js";
import { cast } from "../ops/cast.js";
import { div, maximum, mul } from "../ops/elementwise.js";
import { sum as reduceSum } from "../ops/reduce.js";
import { slice } from "../ops/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import type { Collated, Sequence } from "./examples.js";
import { stageSequences } from "./scoring.js";
import type { VisionLanguageModel } from "./model.js";

export interface Feed {
  readonly main: Collated;
  /** The chosen replies scored against corrupted images (mDPO), or null. */
  readonly noImage: Collated | null;
  readonly ref: { readonly chosen: Tensor; readonly rejected: Tensor } | null;
  readonly refNoImage: Tensor | null;
  /** The rows' numeric extra columns by name, each [B] (see dataColumns), or null: batch.columns. */
  readonly columns: Readonly<Record<string, Tensor>> | null;
}

/** The host half of a pass: every input of the pass as tensors on `device`. */
export function makeFeed<P>(
  model: VisionLanguageModel<P>,
  seqs: readonly Sequence[],
  pixels: readonly (Tensor | null)[],
  noImage: { seqs: readonly Sequence[]; pixels: readonly (Tensor | null)[] } | null,
  refs: Pick<Feed, "ref" | "refNoImage" | "columns">,
  device: string | undefined,
): Feed {
  return {
    main: stageSequences(model, seqs, pixels, device),
    noImage: noImage && stageSequences(model, noImage.seqs, noImage.pixels, device),
    ...refs,
  };
}

export interface PassResult<P> {
  loss: Tensor;
  grads: P;
  metrics: Record<string, Tensor>;
  /** The objective's next state, when the pass was given one (see objective-state.ts). */
  state?: TrlState;
}

export interface PassOptions {
  /**
   * Add TRL's `logits/chosen` and `logits/rejected`: the mean logit over the
   * completion tokens and the whole vocabulary of each side, as DPOTrainer
   * logs them (see docs/trl.md). The loop turns this on for fromTrl
   * objectives only: it costs a second read of the [2B, T, V] logits per pass.
   */
  logitMetrics?: boolean;
}

/**
 * The device half of a pass: loss, gradients and metrics from params and a
 * feed (tensor ops only). With `state`, the objective is called as a stateful
 * one, objective(batch, state), and its next state is returned: such passes
 * run op by op, never under jit, because a compiled program would bake the
 * state it was traced with into its constants (see loop.ts).
 */
export function passFunction<P>(
  model: VisionLanguageModel<P>,
  objective: Objective,
  sft: boolean,
  opts: PassOptions = {},
): (params: P, feed: Feed, state?: TrlState) => PassResult<P> {
  const score = (p: P, c: Collated) => sequenceLogps(model.forward(p, c.inputs), c.labels, c.mask);
  const stateful = objective as unknown as (batch: PreferenceBatch, state: TrlState) => ObjectiveResult & { state: TrlState };
  return (params, feed, state) => {
    let metrics: Record<string, Tensor> = {};
    let next: TrlState | undefined;
    const [loss, grads] = valueAndGrad((p: P) => {
      const logits = model.forward(p, feed.main.inputs);
      const { sum, count } = sequenceLogps(logits, feed.main.labels, feed.main.mask);
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
        ...(feed.columns && { columns: feed.columns }),
      };
      let r: ObjectiveResult;
      if (state === undefined) r = objective(batch);
      else ({ state: next, ...r } = stateful(batch, state));
      metrics = r.metrics;
      if (opts.logitMetrics) {
        const sums = completionLogitSums(stopGradient(logits), feed.main.mask);
        const V = logits.shape[2]!;
        // Σ logits / (tokens·V); with no completion tokens the sum is 0 and so is the metric (TRL main's 0, not v0.25's NaN)
        const meanLogit = (k: 0 | 1) => div(reduceSum(side(sums, k)), maximum(mul(reduceSum(side(count, k)), V), 1));
        metrics = { ...metrics, "logits/chosen": meanLogit(0), "logits/rejected": meanLogit(1) };
      }
      return r.loss;
    })(params);
    // metrics and state are read, not differentiated: their values without the pass's tape
    const detached = Object.fromEntries(Object.entries(metrics).map(([k, t]) => [k, stopGradient(t)]));
    return { loss, grads, metrics: detached, ...(next && { state: detachState(next) }) };
  };
}

/** `state` with its tensor (the running mean) cut from the pass's tape. */
function detachState(state: TrlState): TrlState {
  const r = state.running;
  if (!r || typeof r.mean === "number") return state;
  return { ...state, running: { ...r, mean: stopGradient(r.mean) } };
}

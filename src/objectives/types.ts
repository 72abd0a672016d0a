/**
 * The objectives contract: an objective is a pure function from a batch of
 * per-sequence log-probabilities to a scalar loss and detached metrics.
 */
import { AnchorError } from "../tensor/errors.js";
import type { Tensor } from "../tensor/tensor.js";

/**
 * Per-pair inputs, every field a 1-D tensor of B entries. Log-probs are sums
 * over the completion's tokens; lengths count those tokens (any numeric dtype,
 * each > 0). The reference fields are constants; they are required by every
 * objective that compares against a reference model (all but sft, simpo, cpo,
 * orpo, and any objective built with `referenceFree: true`).
 */
export interface PreferenceBatch {
  policyChosenLogps: Tensor;
  policyRejectedLogps: Tensor;
  refChosenLogps?: Tensor;
  refRejectedLogps?: Tensor;
  chosenLengths: Tensor;
  rejectedLengths: Tensor;
  /** mDPO: the chosen log-prob with the image corrupted or masked (policy). */
  policyChosenLogpsNoImage?: Tensor;
  /** mDPO: the same under the reference model. */
  refChosenLogpsNoImage?: Tensor;
  /**
   * ORPO's NLL as TRL computes it (a cross entropy over the chosen prompt and
   * completion): the policy log-prob sum over the chosen prompt's scored
   * tokens (every prompt token after the first), and their count.
   */
  chosenPromptLogps?: Tensor;
  chosenPromptLengths?: Tensor;
  /**
   * Further per-pair values by name, each [B]: the numeric extra columns of
   * the data rows (a JSONL row's `"weight": 0.5` arrives as columns.weight
   * through ag.train). Objectives read them by name, e.g. the `weights`
   * option of every built-in objective.
   */
  columns?: Readonly<Record<string, Tensor>>;
}

/** A scalar loss to differentiate, and metrics (scalars, never on the tape). */
export interface ObjectiveResult {
  loss: Tensor;
  metrics: Record<string, Tensor>;
}

export type Objective = (batch: PreferenceBatch) => ObjectiveResult;

/** Bad options or batch values for an objective; the message names the field and value. */
export class ObjectiveError extends AnchorError {
  override name = "ObjectiveError";
}

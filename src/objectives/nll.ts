/**
 * The supervised (NLL) term of the chosen completion, the one concept behind
 * sft, RPO's and CPO's anchors and ORPO's first term.
 *
 * Two reductions, because the two communities average differently:
 * - "pair": the mean over pairs of each pair's per-token NLL, −S_c / L_c.
 *   A batch's loss is then the size-weighted mean of its parts' losses.
 * - "token": the mean over every chosen token of the batch, −Σ S_c / Σ L_c,
 *   which is what a cross entropy over the batch computes (TRL). Long
 *   completions weigh more.
 *
 * With `withPrompt`, the chosen prompt's scored tokens join the completion's
 * (batch fields chosenPromptLogps / chosenPromptLengths), as in ORPO's cross
 * entropy over prompt and completion; without those fields the NLL is the
 * completion's alone.
 */
import { add, broadcastTo, div, neg, sum } from "../ops/index.js";
import type { Tensor } from "../tensor/tensor.js";
import type { Terms } from "./batch.js";
import { ObjectiveError } from "./types.js";

export type NllReduction = "pair" | "token";
export const NLL_REDUCTIONS: readonly NllReduction[] = ["pair", "token"];

/** The prompt fields of an ORPO batch, both or neither. */
function promptTerms(name: string, t: Terms): { sum: Tensor; count: Tensor } | null {
  const sumField = t.optional.chosenPromptLogps,
    countField = t.optional.chosenPromptLengths;
  if (!sumField && !countField) return null;
  if (!sumField || !countField)
    throw new ObjectiveError(`${name}: batch.chosenPromptLogps and batch.chosenPromptLengths go together; the batch has only one of them`);
  return { sum: sumField, count: countField };
}

function tokens(name: string, t: Terms, withPrompt: boolean): { logps: Tensor; count: Tensor } {
  const prompt = withPrompt ? promptTerms(name, t) : null;
  return prompt
    ? { logps: add(prompt.sum, t.chosenSum), count: add(prompt.count, t.chosenLengths) }
    : { logps: t.chosenSum, count: t.chosenLengths };
}

/** The "token" NLL, a scalar: −(Σ logps) / (Σ count). */
export function tokenNll(name: string, t: Terms, withPrompt = false): Tensor {
  const { logps, count } = tokens(name, t, withPrompt);
  return neg(div(sum(logps), sum(count)));
}

/**
 * The NLL as per-pair terms [B] whose mean is the reduction asked for ("token"
 * puts the batch's token mean in every entry).
 */
export function chosenNll(name: string, t: Terms, reduction: NllReduction, withPrompt = false): Tensor {
  if (reduction === "token") return broadcastTo(tokenNll(name, t, withPrompt), [t.size]);
  const { logps, count } = tokens(name, t, withPrompt);
  return neg(div(logps, count));
}

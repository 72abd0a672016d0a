/**
 * defineObjective: the one place where options are resolved, the batch is
 * checked, per-pair losses are averaged and the standard metrics attached.
 * An objective definition is then just its formula.
 */
import { mul } from "../ops/elementwise.js";
import { mean } from "../ops/reduce.js";
import { Tensor } from "../tensor/tensor.js";
import { columnOf, prepareBatch, type BatchField, type Terms } from "./batch.js";
import { preferenceMetrics } from "./metrics.js";
import { requirePositive, resolveOptions, type Options } from "./options.js";
import { ObjectiveError, type Objective, type PreferenceBatch } from "./types.js";

export interface ObjectiveSpec<D extends Options> {
  readonly name: string;
  /** Every option the objective takes, with its default (the option types are inferred from these). */
  readonly defaults: D;
  /** Range checks beyond the type checks (beta > 0 is checked whenever there is a beta). */
  check?(o: NoInfer<D>): void;
  /** Whether the formula uses the reference model; a `referenceFree: true` option turns it off. */
  readonly reference: boolean;
  /** Length normalisation when the objective has no `lengthNormalize` option. */
  readonly lengthNormalize?: boolean;
  /** Further chosen-side batch fields (mDPO's no-image log-probs). */
  extra?(o: NoInfer<D>): readonly BatchField[];
  /** Batch fields used when present (ORPO's prompt log-probs). */
  readonly optional?: readonly BatchField[];
  /** The scale of the reported rewards (β for β·r); null: report no rewards. */
  rewardScale(o: NoInfer<D>): number | null;
  /** Per-pair losses [B], optionally with the objective's own (detached) metrics. */
  pairLoss(t: Terms, o: NoInfer<D>): Tensor | { perPair: Tensor; metrics: Record<string, Tensor> };
}

/** Name a function so that `weighted` can namespace its metrics. */
export function named<F extends Function>(name: string, fn: F): F {
  return Object.defineProperty(fn, "name", { value: name });
}

/**
 * The option every defined objective takes besides its own: `weights`, the
 * name of a per-pair column of the batch (batch.columns[weights], [B], each
 * ≥ 0) that multiplies each pair's loss before the mean, so the loss is
 * mean_i(w_i·ℓ_i). Data rows carry such a column as an extra field (a JSONL
 * row's "weight": 0.5), which ag.train hands to the objective.
 */
export interface WeightsOption {
  weights?: string;
}

/** The factory `(options?) => Objective` for a spec; its loss is the mean over pairs (weighted by the `weights` column if given). */
export function defineObjective<D extends Options>(spec: ObjectiveSpec<D>): (opts?: Partial<D> & WeightsOption) => Objective {
  return (given) => {
    // weights is taken out before the objective's own options are checked; anything but an object goes on to be refused there
    const isObject = given !== null && typeof given === "object" && !Array.isArray(given);
    const { weights, ...opts } = (isObject ? given : {}) as Partial<D> & WeightsOption;
    if (weights !== undefined && (typeof weights !== "string" || weights === ""))
      throw new ObjectiveError(
        `${spec.name}: option weights must name a batch column (a string such as "weight"), got ${JSON.stringify(weights)}`,
      );
    const o = resolveOptions(spec.name, spec.defaults, isObject ? (opts as Partial<D>) : given);
    if (typeof o.beta === "number") requirePositive(spec.name, "beta", o.beta);
    spec.check?.(o);
    const needs = {
      reference: spec.reference && o.referenceFree !== true,
      lengthNormalize: typeof o.lengthNormalize === "boolean" ? o.lengthNormalize : (spec.lengthNormalize ?? false),
      extra: spec.extra?.(o) ?? [],
      optional: spec.optional ?? [],
    };
    return named(spec.name, (batch: PreferenceBatch) => {
      const t = prepareBatch(spec.name, batch, needs);
      const out = spec.pairLoss(t, o);
      const { perPair, metrics } = out instanceof Tensor ? { perPair: out, metrics: {} } : out;
      const loss = weights === undefined ? mean(perPair) : mean(mul(perPair, columnOf(spec.name, batch, weights, t)));
      return { loss, metrics: { ...preferenceMetrics(t, spec.rewardScale(o)), ...metrics } };
    });
  };
}

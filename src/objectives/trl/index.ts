/**
 * fromTrl: the objective TRL's DPOTrainer, CPOTrainer or ORPOTrainer would
 * compute, from a config written with TRL's own field names:
 *
 *   const mpo = ag.objectives.fromTrl({ trainer: "dpo", loss_type: ["sigmoid", "bco_pair", "sft"], loss_weights: [0.8, 0.2, 1] });
 *   const { loss, metrics } = mpo(batch);
 *
 * Loss, gradient with respect to the per-sequence log-prob sums and every
 * metric TRL logs from them (under TRL's names) match TRL in float64; the
 * mapping and each deliberate difference are in docs/trl.md.
 *
 * TRL's v0.25 DPOTrainer keeps state between batches (the bco_pair running
 * mean; exo_pair's label smoothing). The objective stays pure: it takes that
 * state as a second argument (a fresh trainer's when omitted, which matches
 * TRL's first batch exactly) and returns the next one in `state`.
 */
import type { Tensor } from "../../tensor/tensor.js";
import { prepareBatch } from "../batch.js";
import { named } from "../objective.js";
import type { ObjectiveResult, PreferenceBatch } from "../types.js";
import type { TrlState } from "./common.js";
import { resolveTrlConfig, type TrlConfig, type TrlSettings } from "./config.js";
import { cpoStep, orpoStep } from "./cpo-orpo.js";
import { dpoStep } from "./dpo.js";

export type { TrlState } from "./common.js";
export type { TrlConfig, TrlSettings, TrlTrainer, TrlVersion } from "./config.js";

/** An objective with TRL's state threaded through it. */
export interface TrlObjective {
  (batch: PreferenceBatch, state?: TrlState): ObjectiveResult & { state: TrlState };
  /** The resolved settings (TRL's defaults filled in). */
  readonly settings: TrlSettings;
  /** A fresh trainer's state. */
  initialState(): TrlState;
  /** Whether the state changes from batch to batch (v0.25 DPO with bco_pair or exo_pair). */
  readonly stateful: boolean;
}

const STEPS = { dpo: dpoStep, cpo: cpoStep, orpo: orpoStep };

/** The objectives fromTrl made: the train loop asks, to carry their state and log TRL's logits/* metrics. */
const made = new WeakSet<object>();

/** Whether `f` was made by fromTrl (exactly: no duck typing on its properties). */
export const isTrlObjective = (f: unknown): f is TrlObjective => typeof f === "function" && made.has(f);

export function fromTrl(config: TrlConfig): TrlObjective {
  const s = resolveTrlConfig(config);
  const initialState = (): TrlState => ({ running: null, labelSmoothing: s.labelSmoothing });
  const name = `trl-${s.trainer}`;
  const fn = (batch: PreferenceBatch, state?: TrlState) => {
    const t = prepareBatch(name, batch, {
      reference: s.trainer === "dpo",
      lengthNormalize: false,
      optional: s.trainer === "orpo" ? ["chosenPromptLogps", "chosenPromptLengths"] : [],
    });
    return STEPS[s.trainer](s, t, state ?? initialState());
  };
  const objective = Object.assign(named(name, fn), {
    settings: s,
    initialState,
    stateful:
      s.trainer === "dpo" &&
      s.version === "0.25" &&
      (s.lossTypes.includes("bco_pair") || (s.lossTypes.includes("exo_pair") && s.labelSmoothing === 0)),
  });
  made.add(objective);
  return objective;
}

/** A state's running mean as a number (read it outside a transform, e.g. to checkpoint). */
export async function trlStateToJson(
  state: TrlState,
): Promise<{ running: { mean: number; count: number } | null; labelSmoothing: number }> {
  const r = state.running;
  if (!r) return { running: null, labelSmoothing: state.labelSmoothing };
  const mean = typeof r.mean === "number" ? r.mean : (await (r.mean as Tensor).data())[0]!;
  return { running: { mean, count: r.count }, labelSmoothing: state.labelSmoothing };
}

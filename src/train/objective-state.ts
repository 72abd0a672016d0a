/**
 * An objective's batch-to-batch state, as the training loop carries it.
 *
 * TRL v0.25's DPOTrainer keeps a running mean of the rewards for bco_pair
 * (and raises exo_pair's label smoothing once); fromTrl keeps the objective
 * pure by taking that state as a second argument and returning the next one
 * (docs/trl.md). The loop threads it from pass to pass (gradient-accumulation
 * passes included, in order, as TRL updates it once per micro-batch), writes
 * it into trainer_state.json with every checkpoint and reads it back on
 * resume, so a resumed run computes the same losses as an uninterrupted one.
 *
 * Between steps the state stays on the device (its running mean is a 0-d
 * tensor): reading it every step would add a host read to each step; it is
 * read only when a checkpoint is written.
 */
import { isTrlObjective, trlStateToJson, type TrlState } from "../objectives/trl/index.js";
import type { Objective } from "../objectives/types.js";
import { AnchorError } from "../tensor/errors.js";
import { treeLeaves } from "../tensor/pytree.js";
import type { Tensor } from "../tensor/tensor.js";
import type { TrainerState } from "./checkpoint.js";

/** trainer_state.json's `objectiveState`: TRL's state as numbers. */
export type ObjectiveStateJson = Awaited<ReturnType<typeof trlStateToJson>>;

/** How the loop carries one objective's state; null for an objective without one. */
export interface CarriedState {
  initial(): TrlState;
  toJson(state: TrlState): Promise<ObjectiveStateJson>;
  /** A checkpoint's state, checked; `where` names the file in errors. */
  fromJson(json: unknown, where: string): TrlState;
  /** The tensors of `state`, for disposing a superseded one. */
  tensors(state: TrlState): Tensor[];
}

export function carriedState(objective: Objective): CarriedState | null {
  if (!isTrlObjective(objective) || !objective.stateful) return null;
  return {
    initial: () => objective.initialState(),
    toJson: trlStateToJson,
    fromJson: (json, where) => parseTrlState(json, where),
    tensors: (state) => (state.running && typeof state.running.mean !== "number" ? treeLeaves(state.running.mean) : []),
  };
}

const isNum = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);

/**
 * { running: { mean, count } | null, labelSmoothing } as trlStateToJson
 * writes it. The mean comes back as a number: fromTrl rounds it to float32
 * and adds to it exactly as it does a tensor mean, so the next update is the
 * same (JSON keeps every double exactly).
 */
function parseTrlState(json: unknown, where: string): TrlState {
  const bad = (why: string) =>
    new AnchorError(
      `${where}: objectiveState ${why}; expected { "running": null | { "mean": number, "count": number }, "labelSmoothing": number }`,
    );
  if (!json || typeof json !== "object") throw bad(`is ${JSON.stringify(json)}`);
  const { running, labelSmoothing } = json as Record<string, unknown>;
  if (!isNum(labelSmoothing)) throw bad(`has labelSmoothing ${JSON.stringify(labelSmoothing)}`);
  if (running === null) return { running: null, labelSmoothing };
  const r = running as Record<string, unknown> | undefined;
  if (!r || typeof r !== "object" || !isNum(r.mean) || !isNum(r.count) || r.count <= 0) throw bad(`has running ${JSON.stringify(running)}`);
  return { running: { mean: r.mean, count: r.count }, labelSmoothing };
}

/**
 * trainer_state.json as the loop writes it: TrainerState plus the objective's
 * state, for objectives that carry one (absent otherwise).
 */
export type TrainerStateWithObjective = TrainerState & { objectiveState?: ObjectiveStateJson };

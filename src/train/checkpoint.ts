/**
 * Training checkpoints. Each is a folder `checkpoint-<step>` holding
 *   model.safetensors      the parameters, named by pytree path
 *   optimizer.safetensors  the optimizer slots, named "<slot>/<path>"
 *   trainer_state.json     step, seed, optimizer step and hyperparameters, and the run's config
 * The folder is written under a temporary name and renamed into place, so a
 * checkpoint folder either exists whole or not at all; the newest complete
 * one is what `resume` continues from. A process killed mid-write leaves its
 * temporary folder behind; `removeStaleTemps` clears those when the next
 * trainer takes the run lock (so no live writer can own them).
 */
import { mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { readRegularText } from "../io/files.js";
import { parseJson } from "../io/json.js";
import { openSafetensors, writeSafetensors } from "../io/safetensors.js";
import { leavesWithPaths } from "../optim/paths.js";
import type { OptState } from "../optim/optimizer.js";
import { AnchorError } from "../tensor/errors.js";
import { assertSamePaths, treeFlatten, treeUnflatten } from "../tensor/pytree.js";
import { fmt, sameShape } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";

export interface TrainerState {
  /** Updates applied so far; training resumes at this step. */
  step: number;
  seed: number;
  /** Examples consumed so far (the data order is a function of seed and this). */
  examplesSeen: number;
  optimizer: { name: string; step: number; hparams: Record<string, unknown> };
  /** Whatever the caller wants to keep with the run (its config). */
  extra?: Record<string, unknown>;
  /** What `resume` compares with the run being started (see resume.ts); absent in older checkpoints. */
  run?: Record<string, unknown>;
}

const DIR = /^checkpoint-(\d+)$/;
const TEMP = /^\.checkpoint-\d+\.tmp-\d+$/;
const tempName = (step: number) => `.checkpoint-${step}.tmp-${process.pid}`;

function named(tree: unknown, prefix = ""): Record<string, Tensor> {
  return Object.fromEntries(leavesWithPaths(tree).map(({ path, leaf }) => [prefix + path, leaf]));
}

/** Write checkpoint-<state.step> under `out` atomically, then drop all but the newest `keep`. */
export async function saveCheckpoint(out: string, params: unknown, opt: OptState, state: TrainerState, keep = 2): Promise<string> {
  const final = join(out, `checkpoint-${state.step}`);
  const tmp = join(out, tempName(state.step));
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  const leaves = leavesWithPaths(params);
  const slots: Record<string, Tensor> = {};
  for (const [slot, list] of Object.entries(opt.slots))
    list.forEach((t, i) => {
      if (t) slots[`${slot}/${leaves[i]!.path}`] = t;
    });
  await writeSafetensors(join(tmp, "model.safetensors"), named(params));
  await writeSafetensors(join(tmp, "optimizer.safetensors"), slots);
  await writeFile(join(tmp, "trainer_state.json"), JSON.stringify(state, null, 2));
  await rm(final, { recursive: true, force: true });
  await rename(tmp, final);
  const all = await listCheckpoints(out);
  for (const old of all.slice(0, Math.max(0, all.length - keep)))
    await rm(join(out, `checkpoint-${old}`), { recursive: true, force: true });
  return final;
}

/** Steps of the complete checkpoints under `out`, ascending. */
export async function listCheckpoints(out: string): Promise<number[]> {
  const names = await readdir(out).catch(() => [] as string[]);
  return names
    .map((n) => DIR.exec(n))
    .filter((m): m is RegExpExecArray => !!m)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

/** Remove the temporary folders that interrupted saves left under `out`; returns their names. Call only while holding the run lock. */
export async function removeStaleTemps(out: string): Promise<string[]> {
  const stale = (await readdir(out).catch(() => [] as string[])).filter((n) => TEMP.test(n));
  for (const n of stale) await rm(join(out, n), { recursive: true, force: true });
  return stale;
}

/** trainer_state.json holds a step, a seed, an RNG state and the config: kilobytes. */
const MAX_STATE_BYTES = 16 << 20;

/** The trainer_state.json of a checkpoint folder. */
export async function readTrainerState(dir: string): Promise<TrainerState> {
  const fail = (why: string) => new AnchorError(`${dir}: cannot read trainer_state.json: ${why}`);
  return parseJson(await readRegularText(join(dir, "trainer_state.json"), { maxBytes: MAX_STATE_BYTES }, fail), fail) as TrainerState;
}

/**
 * Load a checkpoint into the structure of `template` (parameters) and of
 * `templateState` (an optimizer's init() for those parameters). Every tensor
 * must be present with the template's shape; dtypes follow the template.
 */
export async function loadCheckpoint<P>(
  dir: string,
  template: P,
  templateState: OptState,
): Promise<{ params: P; opt: OptState; state: TrainerState }> {
  const state = await readTrainerState(dir);
  const leaves = leavesWithPaths(template);
  const model = await openSafetensors(join(dir, "model.safetensors"));
  const optFile = await openSafetensors(join(dir, "optimizer.safetensors"));
  try {
    // by name, both ways: a checkpoint of another model (extra or missing tensors) is refused, listing both sides
    assertSamePaths(dir, ["the model's parameters", leaves.map((l) => l.path)], [model.path, model.names]);
    const slotNames = Object.entries(templateState.slots).flatMap(([slot, list]) =>
      list.flatMap((t, i) => (t ? [`${slot}/${leaves[i]!.path}`] : [])),
    );
    assertSamePaths(dir, ["the optimizer's state", slotNames], [optFile.path, optFile.names]);
    const read = async (file: typeof model, name: string, like: Tensor) => {
      if (!file.has(name)) throw new AnchorError(`${file.path}: no tensor "${name}"; the checkpoint does not match this model`);
      const t = await file.read(name, { dtype: like.dtype, device: like.device }); // where the run's parameters live
      if (!sameShape(t.shape, like.shape))
        throw new AnchorError(`${file.path}: "${name}" has shape ${fmt(t.shape)}, the model expects ${fmt(like.shape)}`);
      return t;
    };
    const ps: Tensor[] = [];
    for (const { path, leaf } of leaves) ps.push(await read(model, path, leaf));
    const slots: OptState["slots"] = {};
    for (const [slot, list] of Object.entries(templateState.slots)) {
      slots[slot] = [];
      for (const [i, t] of list.entries()) slots[slot]!.push(t ? await read(optFile, `${slot}/${leaves[i]!.path}`, t) : null);
    }
    return { params: treeUnflatten<P>(treeFlatten(template).def, ps), opt: { step: state.optimizer.step, slots }, state };
  } finally {
    await model.close();
    await optFile.close();
  }
}

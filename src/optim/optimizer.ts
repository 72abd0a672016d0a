/**
 * Optimizers as pure functions over pytrees:
 *
 *   const opt = adamw({ lr: warmupCosine({...}), weightDecay: 0.05, mask: freeze("vision") });
 *   let state = opt.init(params);
 *   ({ params, state } = opt.update(grads, state, params));
 *
 * State is `{ step, slots }`: `step` counts the updates applied so far and
 * each slot (Adam's m and v, SGD's momentum buffer) is a list with one entry
 * per parameter leaf, in treeFlatten order: a tensor for a trainable leaf,
 * null for a frozen one. Frozen leaves come back as the very same tensors.
 */
import { AnchorError, ShapeError } from "../tensor/errors.js";
import { jit } from "../ir/jit.js";
import { full, zerosLike } from "../ops/create.js";
import { scope } from "../tensor/scope.js";
import { assertSameKeys, treeFlatten, treeUnflatten } from "../tensor/pytree.js";
import { fmt, sameShape } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import { leavesWithPaths, type ParamMask } from "./paths.js";
import { lrAt, type LearningRate } from "./schedule.js";

export interface OptState {
  step: number;
  slots: Record<string, (Tensor | null)[]>;
}

export interface Optimizer<S extends OptState = OptState> {
  readonly name: string;
  /** The hyperparameters, as plain JSON (for checkpoints and logs). */
  readonly hparams: Record<string, unknown>;
  init(params: unknown): S;
  update<P>(grads: P, state: S, params: P): { params: P; state: S };
  /** The learning rate the update after `step` updates uses. */
  learningRate(step: number): number;
}

export interface CommonOptions {
  lr: LearningRate;
  /** Which leaves to train; default all. */
  mask?: ParamMask;
  /**
   * Compile the update of all leaves into one jitted program (default true):
   * each leaf's chain of elementwise ops becomes one fused kernel. false runs
   * it op by op (the same numbers; for debugging).
   */
  jit?: boolean;
}

/**
 * What one optimizer defines: the slot names it keeps, the step's scalars
 * (learning rate, bias corrections) as numbers of the learning rate and of
 * t = step + 1, the 1-based update count, and the rule that maps (param,
 * grad, slots, scalars) to the new param and slots for one leaf. The scalars
 * reach the rule as 0-d tensors of the leaf's dtype, so one compiled update
 * serves every step; `first` is true on the first update only.
 */
export interface LeafRule {
  readonly slotNames: readonly string[];
  scalars(lr: number, t: number): Record<string, number>;
  apply(p: Tensor, g: Tensor, slots: Tensor[], s: Record<string, Tensor>, first: boolean): { p: Tensor; slots: Tensor[] };
}

type Scalars = Record<string, Record<string, Tensor>>;

/** Every trainable leaf's update, as one function of the leaves (jitted once per parameter structure). */
const updateAll =
  (rule: LeafRule) =>
  (ps: Tensor[], gs: Tensor[], slots: Tensor[][], s: Scalars, first: boolean): { p: Tensor; slots: Tensor[] }[] =>
    ps.map((p, i) => rule.apply(p, gs[i]!, slots[i]!, s[p.dtype]!, first));

/**
 * A constant learning rate must be a finite number > 0 (a negative one trains
 * by ascent, silently); a schedule must start finite and >= 0 (0 is a warmup's start).
 */
function checkLearningRate(name: string, lr: LearningRate): void {
  if (typeof lr === "number") {
    if (!(lr > 0) || !Number.isFinite(lr)) throw new AnchorError(`${name}: lr must be a finite number > 0, got ${lr}`);
  } else if (typeof lr === "function") {
    const first = lr(0);
    if (!(first >= 0) || !Number.isFinite(first))
      throw new AnchorError(`${name}: the lr schedule gives ${first} at step 0; it must be finite and >= 0`);
  } else throw new AnchorError(`${name}: lr must be a number or a schedule (step) => number, got ${JSON.stringify(lr)}`);
}

/** Builds an Optimizer from a per-leaf rule; the pytree and mask handling lives here. */
export function makeOptimizer(name: string, opts: CommonOptions, hparams: Record<string, unknown>, rule: LeafRule): Optimizer {
  checkLearningRate(name, opts.lr);
  const applyAll = opts.jit === false ? updateAll(rule) : jit(updateAll(rule), { static: [4] });
  const trainable = (params: unknown): boolean[] =>
    leavesWithPaths(params).map(({ path, leaf }) => (opts.mask ? opts.mask(path, leaf) : true));
  return {
    name,
    hparams: { ...hparams, lr: typeof opts.lr === "number" ? opts.lr : "schedule" },
    learningRate: (step) => lrAt(opts.lr, step),
    init(params) {
      const leaves = treeFlatten(params).leaves;
      opts.mask?.check?.(leavesWithPaths(params).map((l) => l.path));
      const mask = trainable(params);
      const slots = Object.fromEntries(rule.slotNames.map((s) => [s, leaves.map((l, i) => (mask[i] ? zerosLike(l) : null))]));
      return { step: 0, slots };
    },
    update<P>(grads: P, state: OptState, params: P) {
      const { leaves: ps, def } = treeFlatten(params);
      // by key path, not by position: gradients { x, y } for parameters { a, b } are a mistake, not a match
      assertSameKeys(`${name}.update`, ["parameters", params], ["gradients", grads]);
      const gs = treeFlatten(grads).leaves;
      const paths = leavesWithPaths(params);
      const mask = trainable(params);
      for (const s of rule.slotNames) {
        if (state.slots[s]?.length !== ps.length)
          throw new AnchorError(
            `${name}.update: state slot "${s}" has ${state.slots[s]?.length ?? 0} entries for ${ps.length} parameters; was it made by this optimizer's init() for these params?`,
          );
      }
      const lr = lrAt(opts.lr, state.step);
      if (!Number.isFinite(lr)) throw new AnchorError(`${name}.update: learning rate at step ${state.step} is ${lr}`);
      return scope(() => {
        const live: number[] = [];
        ps.forEach((p, i) => {
          const g = gs[i]!;
          if (!sameShape(p.shape, g.shape))
            throw new ShapeError(`${name}.update: gradient of "${paths[i]!.path}" has shape ${fmt(g.shape)}, parameter ${fmt(p.shape)}`);
          const cur = rule.slotNames.map((s) => state.slots[s]![i]);
          if (mask[i] && cur.some((c) => c === null))
            throw new AnchorError(
              `${name}.update: "${paths[i]!.path}" is trainable but has no optimizer state (the mask changed since init)`,
            );
          if (mask[i]) live.push(i);
        });
        const values = rule.scalars(lr, state.step + 1);
        const scalars: Scalars = {};
        for (const i of live) {
          const { dtype, device } = ps[i]!;
          scalars[dtype] ??= Object.fromEntries(Object.entries(values).map(([k, v]) => [k, full([], v, { dtype, device })]));
        }
        const updated = applyAll(
          live.map((i) => ps[i]!),
          live.map((i) => gs[i]!),
          live.map((i) => rule.slotNames.map((s) => state.slots[s]![i]!)),
          scalars,
          state.step === 0,
        );
        const newPs = ps.slice();
        const newSlots: Record<string, (Tensor | null)[]> = Object.fromEntries(rule.slotNames.map((s) => [s, ps.map(() => null)]));
        live.forEach((i, k) => {
          newPs[i] = updated[k]!.p;
          rule.slotNames.forEach((s, j) => (newSlots[s]![i] = updated[k]!.slots[j]!));
        });
        return { params: treeUnflatten<P>(def, newPs), state: { step: state.step + 1, slots: newSlots } };
      });
    },
  };
}

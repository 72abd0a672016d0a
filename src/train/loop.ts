/**
 * The training loop, callable from any script:
 *
 *   const run = await train({ model, params, objective: ag.objectives.acpo(), data: rows,
 *                             optimizer: adamw({ lr: 5e-5 }), steps: 100, batchSize: 8, out: "runs/x" });
 *
 * Each step takes the next `batchSize` pairs of a seeded per-epoch shuffle,
 * runs chosen and rejected through the model as one batch of 2B sequences,
 * scores the completions with sequenceLogps, feeds them with the
 * precomputed reference log-probs to the objective, clips the gradient by
 * global norm and applies the optimizer: all inside one ag.scope, so memory
 * stays flat. The data order, the reference log-probs and the checkpointed
 * state make a resumed run repeat an uninterrupted one exactly on the CPU.
 *
 * A run owns its folder: `out` is locked for its duration (lock.ts), the
 * temporaries of interrupted checkpoint writes are removed at start, SIGINT
 * and SIGTERM stop after the current step with a checkpoint (stop.ts), and
 * `resume` refuses a checkpoint made with another config or data (resume.ts).
 *
 * SFT rows (no rejected reply) run B sequences instead; the objective then
 * sees the chosen side in the rejected fields too, so only objectives that
 * read the chosen side alone (sft) make sense there, and metrics about the
 * rejected side are not logged.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import "../ops/index.js"; // registers the op set that autodiff sums cotangents with
import { jit } from "../ir/jit.js";
import { widestFloat } from "../ops/create.js";
import type { PreferenceRow } from "../data/mpo.js";
import { Stream } from "../data/rng.js";
import type { Objective } from "../objectives/types.js";
import { clipByGlobalNormOnDevice } from "../optim/clip.js";
import type { Optimizer, OptState } from "../optim/optimizer.js";
import { add, mul } from "../ops/elementwise.js";
import { deviceOf } from "../ops/move.js";
import { currentBackend } from "../backends/registry.js";
import { AnchorError } from "../tensor/errors.js";
import { scope } from "../tensor/scope.js";
import { treeLeaves, treeMap } from "../tensor/pytree.js";
import { foldIn } from "../tensor/random.js";
import type { Tensor } from "../tensor/tensor.js";
import { listCheckpoints, loadCheckpoint, readTrainerState, removeStaleTemps, saveCheckpoint } from "./checkpoint.js";
import { dataColumns, encodeRows, gatherPixels, pairSequences, type Example } from "./examples.js";
import { PixelCache } from "./images.js";
import { MetricsLog, readMetrics, type MetricRow } from "./metrics.js";
import type { VisionLanguageModel } from "./model.js";
import { progressBar } from "./progress.js";
import { referenceLogps, type ReferenceLogps } from "./reference.js";
import { lockRun } from "./lock.js";
import { checkResume, dataFingerprint, type RunDescription } from "./resume.js";
import { GracefulStop, type StopSignal } from "./stop.js";
import { scoreAll } from "./scoring.js";
import { makeFeed, passFunction } from "./pass.js";
import { DeviceColumn, meanScalars, readScalars } from "./on-device.js";
import { CorruptedPixelCache } from "./corrupt.js";
import { isTrlObjective } from "../objectives/trl/index.js";
import { carriedState, type TrainerStateWithObjective } from "./objective-state.js";

export interface TrainOptions<P> {
  model: VisionLanguageModel<P>;
  /** Initial parameters (never disposed or modified). */
  params: P;
  objective: Objective;
  data: readonly PreferenceRow[];
  /** Reference parameters; default: the initial params. null: no reference (sft, simpo, cpo, orpo). */
  reference?: P | null;
  optimizer: Optimizer;
  steps: number;
  /** Pairs per forward/backward pass (2·batchSize sequences go through the model). */
  batchSize: number;
  /**
   * Passes per optimizer step (default 1): their gradients are averaged, so
   * a step sees batchSize·gradientAccumulationSteps pairs with the memory of
   * one pass (TRL's gradient_accumulation_steps). Logged metrics are the mean over the passes.
   */
  gradientAccumulationSteps?: number;
  seed?: number;
  /** Run folder: metrics.jsonl, checkpoints, the reference cache. */
  out: string;
  /** Clip the gradient to this global norm (default 1, TRL's max_grad_norm); null: no clipping. */
  maxGradNorm?: number | null;
  /**
   * Also score each pair's chosen reply with a corrupted image, under the
   * policy and the reference (mDPO's conditional term; see corrupt.ts): fills
   * the batch's policyChosenLogpsNoImage and refChosenLogpsNoImage. Default false.
   */
  corruptedImage?: boolean;
  /** Every `every` steps (and after the last), run `run` on the current parameters and add its metrics ("eval/...") to the step's row. */
  evaluate?: { every: number; run: (params: P) => Promise<MetricRow> };
  /** Save a checkpoint every this many steps (default: only at the end and on interrupt). */
  saveEvery?: number;
  /** Checkpoints kept on disk (default 2). */
  keepCheckpoints?: number;
  /** Continue from the newest checkpoint under `out` if there is one. */
  resume?: boolean;
  /** Resume even if the checkpoint was made with another config or data set (default: that is an error listing the differences). */
  force?: boolean;
  /** Show the progress bar (default: when stderr is a terminal); a string sets its label. */
  progress?: boolean | string;
  /** Where the reference log-probs are cached (default <out>/reference_logps.json). */
  referenceCache?: string;
  /** Stop after the current step, save a checkpoint and return (as Ctrl-C does). */
  signal?: AbortSignal;
  /** Handle SIGINT and SIGTERM the same way, then set process.exitCode to 130 / 143 (default true); see stop.ts. */
  handleSignals?: boolean;
  /** Called after every step with its metrics row. */
  onStep?: (row: MetricRow) => void;
  /** Stored in trainer_state.json. */
  config?: Record<string, unknown>;
  /**
   * Compile each forward/backward pass with jit (default true): elementwise
   * chains fused, one trace per batch shape (see collate's padding). false
   * runs op by op; objectives that carry state run op by op.
   */
  jit?: boolean;
  /** Log logits/chosen and logits/rejected as TRL does (default: for fromTrl objectives; see pass.ts). */
  logitMetrics?: boolean;
}

export interface TrainResult<P> {
  params: P;
  optState: OptState;
  /** Every metrics row of the run, resumed parts included. */
  history: MetricRow[];
  step: number;
  interrupted: boolean;
  /** The process signal that interrupted the run, if one did. */
  signal: StopSignal | null;
  checkpoint: string | null;
}

/** Metric names that mean nothing when the rejected side is the chosen one (SFT rows). */
const PAIR_ONLY = /rejected|margins|accuracies|^rewards\//;

export async function train<P>(opts: TrainOptions<P>): Promise<TrainResult<P>> {
  const { steps, batchSize, out } = opts;
  if (!Number.isInteger(steps) || steps < 1) throw new AnchorError(`train: steps must be a positive integer, got ${steps}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new AnchorError(`train: batchSize must be a positive integer, got ${batchSize}`);
  const accum = opts.gradientAccumulationSteps ?? 1;
  if (!Number.isInteger(accum) || accum < 1)
    throw new AnchorError(`train: gradientAccumulationSteps must be a positive integer, got ${accum}`);
  if (opts.data.length === 0) throw new AnchorError("train: the data set is empty");
  const sftRows = opts.data.filter((r) => r.rejected === null).length;
  if (sftRows !== 0 && sftRows !== opts.data.length) {
    const r = opts.data.find((x) => x.rejected === null)!;
    throw new AnchorError(
      `train: ${r.source.file}:${r.source.line} has no "rejected" reply but other rows do; mix SFT and preference rows in separate runs`,
    );
  }
  await mkdir(out, { recursive: true });
  const lock = await lockRun(out);
  const stop = new GracefulStop(opts.signal, opts.handleSignals ?? true);
  try {
    await removeStaleTemps(out);
    return await trainLocked(opts, sftRows > 0, stop);
  } finally {
    stop.dispose();
    await lock.release();
  }
}

/** The run itself, once `out` is locked to this process. */
async function trainLocked<P>(opts: TrainOptions<P>, sft: boolean, stop: GracefulStop): Promise<TrainResult<P>> {
  const { model, objective, optimizer, steps, batchSize, out } = opts;
  const seed = opts.seed ?? 0;
  const accum = opts.gradientAccumulationSteps ?? 1;
  const reference = opts.reference === undefined ? opts.params : opts.reference;
  // one device rule: the step's data is made where the parameters live (see on-device.ts)
  const device = deviceOf([opts.params, reference], "train: the parameters and the reference parameters") ?? currentBackend().name;
  const pixels = new PixelCache(model, undefined, device);
  const examples = await encodeRows(model, opts.data, pixels);
  const ref: ReferenceLogps | null =
    reference === null || sft
      ? null
      : await referenceLogps(model, reference, examples, pixels, batchSize * 2, opts.referenceCache ?? join(out, "reference_logps.json"));

  const corrupted = opts.corruptedImage && !sft ? new CorruptedPixelCache(model, pixels, seed) : null;
  const refNoImage =
    corrupted && reference !== null
      ? await scoreAll(
          model,
          reference,
          examples.map((e) => ({ prompt: e.prompt, completion: e.chosen, images: e.row.images })),
          corrupted,
          batchSize * 2,
        )
      : null;
  const refOnDevice = ref && { chosen: new DeviceColumn(ref.chosen, device), rejected: new DeviceColumn(ref.rejected, device) };
  const refNoImageOnDevice = refNoImage && new DeviceColumn(refNoImage, device);
  // the rows' numeric extra columns ("weight") reach the objective as batch.columns, gathered per batch like the reference
  const columnEntries = Object.entries(dataColumns(examples));
  const columnsOnDevice = columnEntries.length ? columnEntries.map(([k, v]) => [k, new DeviceColumn(v, device)] as const) : null;
  const indices = (batch: readonly Example[]) => batch.map((e) => e.index);
  // an objective's batch-to-batch state (v0.25 bco_pair) is threaded through every pass and checkpointed (objective-state.ts)
  const carried = carriedState(objective);
  let objState = carried?.initial();
  const compiled = opts.jit !== false && carried === null;
  const passFn = passFunction(model, objective, sft, { logitMetrics: opts.logitMetrics ?? isTrlObjective(objective) });
  const passStep = compiled ? jit(passFn) : passFn;
  const refDtype = widestFloat(device);

  let params = opts.params;
  let optState = optimizer.init(params);
  let step = 0;
  /** Position in the endless shuffled example stream (differs from step·batchSize after a forced resume with another batch size). */
  let seen = 0;
  const run: RunDescription = {
    config: opts.config ?? {
      objective: objective.name,
      optimizer: { name: optimizer.name, ...optimizer.hparams },
      seed,
      batchSize,
      steps,
      maxGradNorm: opts.maxGradNorm ?? 1,
    },
    data: dataFingerprint(opts.data),
  };
  const resumeFrom = opts.resume ? (await listCheckpoints(out)).at(-1) : undefined;
  if (resumeFrom !== undefined) {
    const dir = join(out, `checkpoint-${resumeFrom}`);
    const saved: TrainerStateWithObjective = await readTrainerState(dir);
    if (!opts.force) {
      checkResume(dir, saved.run, run);
      if (saved.seed !== seed) throw new AnchorError(`train: ${dir} was made with seed ${saved.seed}, this run has seed ${seed}`);
    }
    const loaded = await loadCheckpoint(dir, params, optState);
    disposeAllBut(treeLeaves(optState.slots), []);
    ({ params, opt: optState } = loaded);
    step = loaded.state.step;
    seen = loaded.state.examplesSeen;
    if (carried) {
      if (saved.objectiveState === undefined && !opts.force)
        throw new AnchorError(
          `train: ${dir} has no objectiveState, which ${objective.name} carries from step to step; resume with force to start it afresh`,
        );
      if (saved.objectiveState !== undefined) objState = carried.fromJson(saved.objectiveState, join(dir, "trainer_state.json"));
    }
  }
  let savedStep = step;
  const log = await MetricsLog.open(join(out, "metrics.jsonl"), step);
  const callerOwned = new Set(treeLeaves(opts.params));

  const bar = progressBar(
    typeof opts.progress === "string" ? opts.progress : objective.name || "train",
    steps,
    step,
    opts.progress !== undefined ? opts.progress !== false : !!process.stderr.isTTY,
  );
  const order = epochOrder(examples.length, seed);
  const save = async () =>
    saveCheckpoint(
      out,
      params,
      optState,
      {
        step,
        seed,
        examplesSeen: seen,
        optimizer: { name: optimizer.name, step: optState.step, hparams: optimizer.hparams },
        ...(opts.config && { extra: opts.config }),
        run,
        ...(carried && objState && { objectiveState: await carried.toJson(objState) }),
      } satisfies TrainerStateWithObjective,
      opts.keepCheckpoints ?? 2,
    );
  let checkpoint: string | null = resumeFrom === undefined ? null : join(out, `checkpoint-${resumeFrom}`);
  /** Save unless this step is already on disk (a stop right after a periodic save, or before the first resumed step). */
  const saveNew = async () => {
    if (step === savedStep) return;
    checkpoint = await save();
    savedStep = step;
  };

  try {
    while (step < steps && !stop.aborted) {
      type Px = Awaited<ReturnType<typeof gatherPixels>>;
      const passes: { batch: Example[]; seqs: ReturnType<typeof pairSequences>; px: Px; pxCorrupted: Px | null }[] = [];
      for (let a = 0; a < accum; a++) {
        const batch = Array.from({ length: batchSize }, (_, k) => examples[order(seen + a * batchSize + k)]!);
        const seqs = pairSequences(batch);
        const pxCorrupted = corrupted ? await gatherPixels(seqs.slice(0, batchSize), corrupted) : null;
        passes.push({ batch, seqs, px: await gatherPixels(seqs, pixels), pxCorrupted });
      }
      const lr = optimizer.learningRate(optState.step);
      const stateBefore = objState;
      const result = await scope(async () => {
        /** One forward/backward pass: its gradients and its metrics, still on the device (intermediates freed per pass). */
        const pass = ({ batch, seqs, px, pxCorrupted }: (typeof passes)[number]) =>
          scope(async () => {
            const feed = makeFeed(
              model,
              seqs,
              px,
              pxCorrupted && { seqs: seqs.slice(0, batch.length), pixels: pxCorrupted },
              {
                ref: refOnDevice && {
                  chosen: refOnDevice.chosen.rows(indices(batch), refDtype),
                  rejected: refOnDevice.rejected.rows(indices(batch), refDtype),
                },
                refNoImage: refNoImageOnDevice && refNoImageOnDevice.rows(indices(batch), refDtype),
                columns: columnsOnDevice && Object.fromEntries(columnsOnDevice.map(([k, c]) => [k, c.rows(indices(batch), refDtype)])),
              },
              device,
            );
            const { loss, grads, metrics, state } = carried ? passFn(params, feed, objState) : passStep(params, feed);
            if (carried) objState = state; // the next pass (of this step or the next) continues from it
            const scalars: Record<string, Tensor> = { loss };
            for (const [k, t] of Object.entries(metrics)) if (!(sft && PAIR_ONLY.test(k))) scalars[k] = t;
            return { grads, scalars, state };
          });
        const done = [];
        for (const p of passes) done.push(await pass(p));
        const rawGrads =
          accum === 1
            ? done[0]!.grads
            : treeMap<P>(
                (...gs: Tensor[]) =>
                  mul(
                    gs.reduce((x, y) => add(x, y)),
                    1 / accum,
                  ),
                done[0]!.grads,
                ...done.slice(1).map((d) => d.grads),
              );
        const scalars = meanScalars(done.map((d) => d.scalars));
        const clipped = opts.maxGradNorm === null ? null : clipByGlobalNormOnDevice(rawGrads, opts.maxGradNorm ?? 1);
        const next = optimizer.update(clipped?.grads ?? rawGrads, optState, params);
        // the step's one host read: its metrics, after the update has been queued
        const row = await readScalars({ ...scalars, ...(clipped && { grad_norm: clipped.norm }) });
        if (clipped && !Number.isFinite(row.grad_norm)) {
          throw new AnchorError(
            `train: step ${step + 1}: the gradient norm is ${row.grad_norm}; loss ${row.loss}. Lower the learning rate, or run with ANCHORGRAD_DEBUG_NANS=1 to find the op`,
          );
        }
        return { next, row: { ...row, grad_norm: row.grad_norm ?? NaN, learning_rate: lr }, objState };
      });
      disposeAllBut(
        [...treeLeaves(params), ...treeLeaves(optState.slots)],
        [...treeLeaves(result.next.params), ...treeLeaves(result.next.state.slots)],
        callerOwned,
      );
      if (carried) disposeAllBut(carried.tensors(stateBefore!), carried.tensors(result.objState!));
      params = result.next.params;
      optState = result.next.state;
      step++;
      seen += batchSize * accum;
      const evaluated = opts.evaluate && (step % opts.evaluate.every === 0 || step === steps) ? await opts.evaluate.run(params) : {};
      const row = { ...result.row, ...evaluated, epoch: seen / examples.length, step };
      await log.append(row);
      bar.update(step, row);
      opts.onStep?.(row);
      if (opts.saveEvery && step % opts.saveEvery === 0 && step < steps) await saveNew();
      await new Promise((r) => setImmediate(r)); // let a pending signal land between steps
    }
    await saveNew();
  } finally {
    bar.stop();
    await corrupted?.clear();
    await pixels.clear();
    refOnDevice?.chosen.dispose();
    refOnDevice?.rejected.dispose();
    refNoImageOnDevice?.dispose();
    for (const [, c] of columnsOnDevice ?? []) c.dispose();
  }
  const history = await readMetrics(join(out, "metrics.jsonl"));
  return { params, optState, history, step, interrupted: step < steps, signal: stop.caught, checkpoint };
}

/** Position p of the endless example stream -> example index, a fresh seeded shuffle per epoch. */
function epochOrder(n: number, seed: number): (p: number) => number {
  const perms = new Map<number, number[]>();
  return (p) => {
    const e = Math.floor(p / n);
    let perm = perms.get(e);
    if (!perm) {
      perm = new Stream(foldIn(seed, e)).shuffle(Array.from({ length: n }, (_, i) => i));
      perms.set(e, perm);
      perms.delete(e - 2);
    }
    return perm[p % n]!;
  };
}

/** Dispose the tensors of `old` that are neither in `keep` nor protected. */
function disposeAllBut(old: readonly Tensor[], keep: readonly Tensor[], protect: ReadonlySet<Tensor> = new Set()): void {
  const live = new Set(keep);
  for (const t of old) if (!live.has(t) && !protect.has(t)) t.dispose();
}

export type { Example };

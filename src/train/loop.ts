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
 * SFT rows (no rejected reply) run B sequences instead; the objective then
 * sees the chosen side in the rejected fields too, so only objectives that
 * read the chosen side alone (sft) make sense there, and metrics about the
 * rejected side are not logged.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import "../ops/index.js"; // registers the op set that autodiff sums cotangents with
import { valueAndGrad } from "../autograd/transforms.js";
import type { PreferenceRow } from "../data/mpo.js";
import { Stream } from "../data/rng.js";
import type { Objective, PreferenceBatch } from "../objectives/types.js";
import { clipByGlobalNorm } from "../optim/clip.js";
import type { Optimizer, OptState } from "../optim/optimizer.js";
import { slice } from "../ops/shape.js";
import { tensor } from "../ops/create.js";
import { AnchorError } from "../tensor/errors.js";
import { scope } from "../tensor/scope.js";
import { treeLeaves } from "../tensor/pytree.js";
import { foldIn } from "../tensor/random.js";
import type { Tensor } from "../tensor/tensor.js";
import { listCheckpoints, loadCheckpoint, saveCheckpoint, type TrainerState } from "./checkpoint.js";
import { encodeRows, gatherPixels, pairSequences, type Example } from "./examples.js";
import { PixelCache } from "./images.js";
import { MetricsLog, readMetrics, type MetricRow } from "./metrics.js";
import type { VisionLanguageModel } from "./model.js";
import { progressBar } from "./progress.js";
import { referenceLogps, type ReferenceLogps } from "./reference.js";
import { scoreSequences } from "./scoring.js";

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
  /** Pairs per step (2·batchSize sequences go through the model). */
  batchSize: number;
  seed?: number;
  /** Run folder: metrics.jsonl, checkpoints, the reference cache. */
  out: string;
  /** Clip the gradient to this global norm (default 1, TRL's max_grad_norm); null: no clipping. */
  maxGradNorm?: number | null;
  /** Save a checkpoint every this many steps (default: only at the end and on interrupt). */
  saveEvery?: number;
  /** Checkpoints kept on disk (default 2). */
  keepCheckpoints?: number;
  /** Continue from the newest checkpoint under `out` if there is one. */
  resume?: boolean;
  /** Show the progress bar (default: when stderr is a terminal); a string sets its label. */
  progress?: boolean | string;
  /** Where the reference log-probs are cached (default <out>/reference_logps.json). */
  referenceCache?: string;
  /** Stop after the current step, save a checkpoint and return (as Ctrl-C does). */
  signal?: AbortSignal;
  /** Install a SIGINT handler that does the same (default true). */
  handleSigint?: boolean;
  /** Called after every step with its metrics row. */
  onStep?: (row: MetricRow) => void;
  /** Stored in trainer_state.json. */
  config?: Record<string, unknown>;
}

export interface TrainResult<P> {
  params: P;
  optState: OptState;
  /** Every metrics row of the run, resumed parts included. */
  history: MetricRow[];
  step: number;
  interrupted: boolean;
  checkpoint: string | null;
}

/** Metric names that mean nothing when the rejected side is the chosen one (SFT rows). */
const PAIR_ONLY = /rejected|margins|accuracies|^rewards\//;

export async function train<P>(opts: TrainOptions<P>): Promise<TrainResult<P>> {
  const { model, objective, optimizer, steps, batchSize, out } = opts;
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(steps) || steps < 1) throw new AnchorError(`train: steps must be a positive integer, got ${steps}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new AnchorError(`train: batchSize must be a positive integer, got ${batchSize}`);
  if (opts.data.length === 0) throw new AnchorError("train: the data set is empty");
  const sftRows = opts.data.filter((r) => r.rejected === null).length;
  if (sftRows !== 0 && sftRows !== opts.data.length) {
    const r = opts.data.find((x) => x.rejected === null)!;
    throw new AnchorError(
      `train: ${r.source.file}:${r.source.line} has no "rejected" reply but other rows do; mix SFT and preference rows in separate runs`,
    );
  }
  const sft = sftRows > 0;
  await mkdir(out, { recursive: true });

  const pixels = new PixelCache(model);
  const examples = await encodeRows(model, opts.data, pixels);
  const reference = opts.reference === undefined ? opts.params : opts.reference;
  const ref: ReferenceLogps | null =
    reference === null || sft
      ? null
      : await referenceLogps(model, reference, examples, pixels, batchSize * 2, opts.referenceCache ?? join(out, "reference_logps.json"));

  let params = opts.params;
  let optState = optimizer.init(params);
  let step = 0;
  const resumeFrom = opts.resume ? (await listCheckpoints(out)).at(-1) : undefined;
  if (resumeFrom !== undefined) {
    const loaded = await loadCheckpoint(join(out, `checkpoint-${resumeFrom}`), params, optState);
    if (loaded.state.seed !== seed)
      throw new AnchorError(`train: ${out}/checkpoint-${resumeFrom} was made with seed ${loaded.state.seed}, this run has seed ${seed}`);
    if (loaded.state.examplesSeen !== loaded.state.step * batchSize)
      throw new AnchorError(
        `train: ${out}/checkpoint-${resumeFrom} was made with another batch size (${loaded.state.examplesSeen} examples in ${loaded.state.step} steps)`,
      );
    disposeAllBut(treeLeaves(optState.slots), []);
    ({ params, opt: optState } = loaded);
    step = loaded.state.step;
  }
  const log = await MetricsLog.open(join(out, "metrics.jsonl"), step);
  const callerOwned = new Set(treeLeaves(opts.params));

  const stop = new AbortController();
  opts.signal?.addEventListener("abort", () => stop.abort());
  if (opts.signal?.aborted) stop.abort();
  const onSigint = () => {
    if (stop.signal.aborted) process.exit(130);
    stop.abort();
  };
  if (opts.handleSigint ?? true) process.on("SIGINT", onSigint);
  const bar = progressBar(
    typeof opts.progress === "string" ? opts.progress : objective.name || "train",
    steps,
    step,
    opts.progress !== undefined ? opts.progress !== false : !!process.stderr.isTTY,
  );
  const order = epochOrder(examples.length, seed);
  const save = () =>
    saveCheckpoint(
      out,
      params,
      optState,
      {
        step,
        seed,
        examplesSeen: step * batchSize,
        optimizer: { name: optimizer.name, step: optState.step, hparams: optimizer.hparams },
        ...(opts.config && { extra: opts.config }),
      } satisfies TrainerState,
      opts.keepCheckpoints ?? 2,
    );
  let checkpoint: string | null = null;

  try {
    while (step < steps && !stop.signal.aborted) {
      const batch = Array.from({ length: batchSize }, (_, k) => examples[order(step * batchSize + k)]!);
      const seqs = pairSequences(batch);
      const px = await gatherPixels(seqs, pixels);
      const lr = optimizer.learningRate(optState.step);
      const result = await scope(async () => {
        let metrics: Record<string, Tensor> = {};
        const lossOf = (p: P) => {
          const { sum, count } = scoreSequences(model, p, seqs, px);
          const B = batch.length;
          const side = (k: 0 | 1) => (sft ? sum : slice(sum, [k * B], [(k + 1) * B]));
          const lengths = (k: 0 | 1) => (sft ? count : slice(count, [k * B], [(k + 1) * B]));
          const pb: PreferenceBatch = {
            policyChosenLogps: side(0),
            policyRejectedLogps: side(1),
            chosenLengths: lengths(0),
            rejectedLengths: lengths(1),
            ...(ref && {
              refChosenLogps: tensor(
                batch.map((e) => ref.chosen[e.index]!),
                { dtype: sum.dtype },
              ),
              refRejectedLogps: tensor(
                batch.map((e) => ref.rejected[e.index]!),
                { dtype: sum.dtype },
              ),
            }),
          };
          const r = objective(pb);
          metrics = r.metrics;
          return r.loss;
        };
        const [loss, rawGrads] = valueAndGrad(lossOf)(params);
        const { grads, norm } =
          opts.maxGradNorm === null ? { grads: rawGrads, norm: NaN } : clipByGlobalNorm(rawGrads, opts.maxGradNorm ?? 1);
        if (!Number.isFinite(norm) && opts.maxGradNorm !== null) {
          throw new AnchorError(
            `train: step ${step + 1}: the gradient norm is ${norm}; loss ${(await loss.data())[0]}. Lower the learning rate, or run with ANCHORGRAD_DEBUG_NANS=1 to find the op`,
          );
        }
        const next = optimizer.update(grads, optState, params);
        const row: MetricRow = { loss: (await loss.data())[0]! };
        for (const [k, t] of Object.entries(metrics)) if (!(sft && PAIR_ONLY.test(k))) row[k] = (await t.data())[0]!;
        return { next, row: { ...row, grad_norm: norm, learning_rate: lr } };
      });
      disposeAllBut(
        [...treeLeaves(params), ...treeLeaves(optState.slots)],
        [...treeLeaves(result.next.params), ...treeLeaves(result.next.state.slots)],
        callerOwned,
      );
      params = result.next.params;
      optState = result.next.state;
      step++;
      const row = { ...result.row, epoch: (step * batchSize) / examples.length, step };
      await log.append(row);
      bar.update(step, row);
      opts.onStep?.(row);
      if (opts.saveEvery && step % opts.saveEvery === 0 && step < steps) checkpoint = await save();
      await new Promise((r) => setImmediate(r)); // let a pending Ctrl-C land between steps
    }
    checkpoint = await save();
  } finally {
    bar.stop();
    if (opts.handleSigint ?? true) process.off("SIGINT", onSigint);
    await pixels.clear();
  }
  return { params, optState, history: await readMetrics(join(out, "metrics.jsonl")), step, interrupted: step < steps, checkpoint };
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

/**
 * `anchorgrad train --config FILE.json`: the training loop on any MPO-format
 * data set, any InternVL model directory and any objective by name. The
 * config's fields, ranges and defaults are the schema in config-schema.ts
 * (documented in docs/train.md, generated from it):
 *
 *   {
 *     "model": "models/tiny", "data": "data/meta.json",
 *     "objective": { "name": "acpo", "beta": 0.1, "delta": 0.01 },
 *     "optimizer": { "name": "adamw", "lr": { "type": "cosine", "peak": 1e-6, "warmupRatio": 0.03 },
 *                    "weightDecay": 0.05, "freeze": ["vision"] },
 *     "steps": 100, "batchSize": 8, "gradientAccumulationSteps": 2, "out": "runs/acpo"
 *   }
 *
 * Relative paths resolve against the config file's folder. The final
 * parameters are also saved as a model directory, <out>/model.
 */
import { dirname, resolve } from "node:path";
import { readMpoJsonl, readMpoMeta, type PreferenceRow } from "../data/mpo.js";
import { readRegularTextSync } from "../io/files.js";
import { parseJson } from "../io/json.js";
import { load, save } from "../models/internvl/checkpoint.js";
import { adamw } from "../optim/adamw.js";
import type { Optimizer } from "../optim/optimizer.js";
import { freeze } from "../optim/paths.js";
import { scheduleFromSpec, type LearningRate } from "../optim/schedule.js";
import { sgd } from "../optim/sgd.js";
import { AnchorError } from "../tensor/errors.js";
import { formatIssues, trainConfigSchema, type OptimizerConfig, type TrainConfigParsed } from "./config-schema.js";
import { internvlModel } from "./internvl.js";
import { train, type TrainResult } from "./loop.js";
import { isTrlSpec, objectiveFromSpec, specUses, type ObjectiveSpec, type TrlObjectiveSpec } from "./objectives.js";
import { pairEvaluator } from "./evaluate.js";

export class ConfigFileError extends AnchorError {
  override name = "ConfigFileError";
}

/** A checked config with defaults filled in and model, data and out as absolute paths. */
export type TrainConfig = Omit<TrainConfigParsed, "$schema">;

/** A train config is a few hundred bytes; anything near this is the wrong file. */
const MAX_CONFIG_BYTES = 1 << 20;

/** Read and check a config file; `overrides` (from flags) win over the file and are checked the same way. */
export function readTrainConfig(file: string, overrides: Partial<TrainConfig> = {}): TrainConfig {
  const fail = (why: string) => new ConfigFileError(`${file}: cannot read the config: ${why}`);
  const raw = parseJson(readRegularTextSync(file, { maxBytes: MAX_CONFIG_BYTES }, fail), fail);
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new ConfigFileError(`${file}: the config must be a JSON object`);
  const parsed = trainConfigSchema.safeParse({ ...raw, ...overrides });
  if (!parsed.success) throw new ConfigFileError(`${file}: ${formatIssues(parsed.error)} (fields: docs/train.md)`);
  const { $schema: _, ...c } = parsed.data;
  const base = dirname(resolve(file));
  return {
    ...c,
    model: resolve(base, c.model),
    data: resolve(base, c.data),
    out: resolve(base, c.out),
    ...(c.evalData !== undefined && { evalData: resolve(base, c.evalData) }),
  };
}

/** "acpo", or "trl dpo 0.25 bco_pair" for a TRL objective: the log line's name of the objective. */
function objectiveLabel(spec: TrainConfig["objective"]): string {
  if (!isTrlSpec(spec)) return (spec as ObjectiveSpec).name;
  const { trainer, version, loss_type } = spec.trl;
  return ["trl", trainer, version ?? "1", ...[loss_type ?? []].flat()].join(" ");
}

function makeOptimizer(o: OptimizerConfig, steps: number): Optimizer {
  const lr: LearningRate = typeof o.lr === "number" ? o.lr : scheduleFromSpec(o.lr, steps);
  const mask = o.freeze?.length ? freeze(...o.freeze) : undefined;
  const common = { lr, ...(mask && { mask }), ...(o.weightDecay !== undefined && { weightDecay: o.weightDecay }) };
  return o.name === "adamw"
    ? adamw({
        ...common,
        ...(o.beta1 !== undefined && { beta1: o.beta1 }),
        ...(o.beta2 !== undefined && { beta2: o.beta2 }),
        ...(o.eps !== undefined && { eps: o.eps }),
      })
    : sgd({
        ...common,
        ...(o.momentum !== undefined && { momentum: o.momentum }),
        ...(o.nesterov !== undefined && { nesterov: o.nesterov }),
      });
}

function readRows(file: string, c: TrainConfig): { rows: PreferenceRow[]; skipped: string[] } {
  const opts = { skipBad: c.skipBad, kind: c.kind, seed: c.seed };
  return file.endsWith(".jsonl") ? readMpoJsonl(file, opts) : readMpoMeta(file, opts);
}

export interface RunConfigOptions {
  resume?: boolean;
  /** Resume even if the checkpoint's config or data set differ (see train's `force`). */
  force?: boolean;
  progress?: boolean;
  log?: (line: string) => void;
}

export async function trainFromConfig(c: TrainConfig, opts: RunConfigOptions = {}): Promise<TrainResult<unknown> & { skipped: string[] }> {
  const log = opts.log ?? (() => {});
  const objective = objectiveFromSpec(c.objective as ObjectiveSpec | TrlObjectiveSpec);
  const { rows, skipped } = readRows(c.data, c);
  if (skipped.length) log(`skipped ${skipped.length} malformed rows (first: ${skipped[0]})`);
  const loaded = await load(c.model);
  const model = internvlModel(loaded, c.system !== undefined ? { system: c.system } : {});
  const perStep = c.batchSize * c.gradientAccumulationSteps;
  const steps = c.steps ?? Math.ceil(rows.length / perStep);
  const accum = c.gradientAccumulationSteps > 1 ? ` (${c.gradientAccumulationSteps} passes of ${c.batchSize})` : "";
  log(`${model.name}: ${rows.length} ${c.kind} rows, objective ${objectiveLabel(c.objective)}, ${steps} steps of ${perStep} pairs${accum}`);
  const corruptedImage = specUses(c.objective as ObjectiveSpec | TrlObjectiveSpec, "mdpo");
  const evaluator =
    c.evalData === undefined
      ? null
      : await pairEvaluator(model, objective, readRows(c.evalData, c).rows, {
          reference: c.kind === "sft" ? null : loaded.params,
          batchSize: 2 * c.batchSize,
          corruptedImage,
          seed: c.seed,
        });
  const run = await train({
    model,
    params: loaded.params,
    objective,
    data: rows,
    ...(c.kind === "sft" && { reference: null }),
    corruptedImage,
    ...(evaluator && { evaluate: { every: c.evalEvery ?? steps, run: (p: typeof loaded.params) => evaluator.run(p) } }),
    optimizer: makeOptimizer(c.optimizer, steps),
    steps,
    batchSize: c.batchSize,
    gradientAccumulationSteps: c.gradientAccumulationSteps,
    seed: c.seed,
    out: c.out,
    maxGradNorm: c.maxGradNorm,
    ...(c.saveEvery && { saveEvery: c.saveEvery }),
    keepCheckpoints: c.keepCheckpoints,
    jit: c.jit,
    resume: opts.resume ?? false,
    force: opts.force ?? false,
    progress: opts.progress ?? !!process.stderr.isTTY,
    config: c as unknown as Record<string, unknown>,
  });
  await evaluator?.dispose();
  if (!run.interrupted) await save(resolve(c.out, "model"), loaded.config, run.params, { tokenizerFrom: c.model });
  return { ...run, skipped };
}

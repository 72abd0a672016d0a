/**
 * `anchorgrad train --config FILE.json`: the training loop on any MPO-format
 * data set, any InternVL model directory and any objective by name.
 *
 *   {
 *     "model": "models/tiny",                     // init-model output or an InternVL checkpoint
 *     "data": "data/meta.json",                   // an MPO meta JSON, or one .jsonl annotation file
 *     "kind": "preference",                       // or "sft" (conversations / chosen-only rows)
 *     "objective": { "name": "acpo", "beta": 0.1, "delta": 0.01 },
 *     "optimizer": { "name": "adamw", "lr": { "type": "cosine", "peak": 1e-6, "warmupRatio": 0.03 },
 *                    "weightDecay": 0.05, "freeze": ["vision"] },
 *     "steps": 100,                               // default: one epoch
 *     "batchSize": 8, "seed": 0, "out": "runs/acpo",
 *     "maxGradNorm": 1, "saveEvery": 50, "skipBad": false
 *   }
 *
 * Relative paths resolve against the config file's folder. The final
 * parameters are also saved as a model directory, <out>/model.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { readMpoJsonl, readMpoMeta, type PreferenceRow } from "../data/mpo.js";
import { load, save } from "../models/internvl/checkpoint.js";
import { adamw } from "../optim/adamw.js";
import type { Optimizer } from "../optim/optimizer.js";
import { freeze } from "../optim/paths.js";
import { scheduleFromSpec, type LearningRate, type ScheduleSpec } from "../optim/schedule.js";
import { sgd } from "../optim/sgd.js";
import { AnchorError } from "../tensor/errors.js";
import { internvlModel } from "./internvl.js";
import { train, type TrainResult } from "./loop.js";
import { objectiveFromSpec, type ObjectiveSpec } from "./objectives.js";

export class ConfigFileError extends AnchorError {
  override name = "ConfigFileError";
}

export interface TrainConfig {
  model: string;
  data: string;
  kind: "preference" | "sft";
  objective: ObjectiveSpec;
  optimizer: {
    name: "adamw" | "sgd";
    lr: number | ScheduleSpec;
    weightDecay?: number;
    beta1?: number;
    beta2?: number;
    eps?: number;
    momentum?: number;
    freeze?: string[];
  };
  steps?: number;
  batchSize: number;
  seed: number;
  out: string;
  maxGradNorm: number | null;
  saveEvery?: number;
  skipBad: boolean;
  system?: string;
}

const KNOWN = new Set([
  "model",
  "data",
  "kind",
  "objective",
  "optimizer",
  "steps",
  "batchSize",
  "seed",
  "out",
  "maxGradNorm",
  "saveEvery",
  "skipBad",
  "system",
]);

/** Read and check a config file; `overrides` (from flags) win over the file. */
export function readTrainConfig(file: string, overrides: Partial<TrainConfig> = {}): TrainConfig {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new ConfigFileError(`${file}: cannot read the config (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new ConfigFileError(`${file}: the config must be a JSON object`);
  const c = { ...raw, ...overrides } as Record<string, unknown>;
  const fail = (field: string, want: string) => {
    throw new ConfigFileError(`${file}: field "${field}" ${want}, got ${JSON.stringify(c[field])}`);
  };
  for (const k of Object.keys(c))
    if (!KNOWN.has(k)) throw new ConfigFileError(`${file}: unknown field "${k}"; known: ${[...KNOWN].join(", ")}`);
  const base = dirname(resolve(file));
  for (const f of ["model", "data"]) if (typeof c[f] !== "string") fail(f, "must be a path");
  const kind = c.kind ?? "preference";
  if (kind !== "preference" && kind !== "sft") fail("kind", 'must be "preference" or "sft"');
  if (!c.objective || typeof c.objective !== "object") fail("objective", 'must be { "name": ..., options }');
  const opt = c.optimizer as TrainConfig["optimizer"] | undefined;
  if (!opt || typeof opt !== "object" || (opt.name !== "adamw" && opt.name !== "sgd"))
    fail("optimizer", 'must be { "name": "adamw" | "sgd", "lr": ... }');
  if (typeof opt!.lr !== "number" && (typeof opt!.lr !== "object" || opt!.lr === null))
    fail("optimizer", 'needs "lr": a number or { "type": "cosine", "peak": ..., "warmupRatio": ... }');
  const posInt = (f: string, v: unknown) => {
    if (v !== undefined && (!Number.isInteger(v) || (v as number) < 1)) fail(f, "must be a positive integer");
  };
  posInt("steps", c.steps);
  posInt("batchSize", c.batchSize ?? 1);
  posInt("saveEvery", c.saveEvery);
  if (c.seed !== undefined && !Number.isInteger(c.seed)) fail("seed", "must be an integer");
  if (c.maxGradNorm !== undefined && c.maxGradNorm !== null && !((c.maxGradNorm as number) > 0)) fail("maxGradNorm", "must be > 0 or null");
  return {
    model: resolve(base, c.model as string),
    data: resolve(base, c.data as string),
    kind: kind as TrainConfig["kind"],
    objective: c.objective as ObjectiveSpec,
    optimizer: opt!,
    ...(c.steps !== undefined && { steps: c.steps as number }),
    batchSize: (c.batchSize as number | undefined) ?? 8,
    seed: (c.seed as number | undefined) ?? 0,
    out: resolve(base, (c.out as string | undefined) ?? "runs/train"),
    maxGradNorm: c.maxGradNorm === undefined ? 1 : (c.maxGradNorm as number | null),
    ...(c.saveEvery !== undefined && { saveEvery: c.saveEvery as number }),
    skipBad: c.skipBad === true,
    ...(typeof c.system === "string" && { system: c.system }),
  };
}

function makeOptimizer(o: TrainConfig["optimizer"], steps: number): Optimizer {
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
    : sgd({ ...common, ...(o.momentum !== undefined && { momentum: o.momentum }) });
}

function readRows(c: TrainConfig): { rows: PreferenceRow[]; skipped: string[] } {
  const opts = { skipBad: c.skipBad, kind: c.kind, seed: c.seed };
  return c.data.endsWith(".jsonl") ? readMpoJsonl(c.data, opts) : readMpoMeta(c.data, opts);
}

export interface RunConfigOptions {
  resume?: boolean;
  progress?: boolean;
  log?: (line: string) => void;
}

export async function trainFromConfig(c: TrainConfig, opts: RunConfigOptions = {}): Promise<TrainResult<unknown> & { skipped: string[] }> {
  const log = opts.log ?? (() => {});
  const objective = objectiveFromSpec(c.objective);
  const { rows, skipped } = readRows(c);
  if (skipped.length) log(`skipped ${skipped.length} malformed rows (first: ${skipped[0]})`);
  const loaded = await load(c.model);
  const model = internvlModel(loaded, c.system !== undefined ? { system: c.system } : {});
  const steps = c.steps ?? Math.ceil(rows.length / c.batchSize);
  log(`${model.name}: ${rows.length} ${c.kind} rows, objective ${c.objective.name}, ${steps} steps of ${c.batchSize}`);
  const run = await train({
    model,
    params: loaded.params,
    objective,
    data: rows,
    ...(c.kind === "sft" && { reference: null }),
    optimizer: makeOptimizer(c.optimizer, steps),
    steps,
    batchSize: c.batchSize,
    seed: c.seed,
    out: c.out,
    maxGradNorm: c.maxGradNorm,
    ...(c.saveEvery && { saveEvery: c.saveEvery }),
    resume: opts.resume ?? false,
    progress: opts.progress ?? !!process.stderr.isTTY,
    config: c as unknown as Record<string, unknown>,
  });
  if (!run.interrupted) await save(resolve(c.out, "model"), loaded.config, run.params, { tokenizerFrom: c.model });
  return { ...run, skipped };
}

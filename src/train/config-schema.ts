/**
 * The train config (`anchorgrad train --config FILE.json`) as one zod
 * schema. The TypeScript types (z.infer), the validation, docs/train.md's
 * field table and docs/train.schema.json (editor completion through
 * "$schema") all come from here: `npm run docs:train` regenerates the docs,
 * and a test fails when they are stale. So a field is added in one place,
 * with its range and one line of meaning in `.describe()`.
 */
import { z } from "zod";
import { didYouMean } from "../optim/closest.js";

/**
 * An object that refuses unknown keys, naming the closest valid one: a typo
 * such as "weight_decayy" must not be ignored silently (it would train with
 * the default and say nothing).
 */
function strict<S extends z.ZodRawShape>(shape: S) {
  const known = Object.keys(shape);
  return z.strictObject(shape, {
    error: (iss) =>
      iss.code === "unrecognized_keys"
        ? `${iss.keys.map((k) => `unknown key "${k}"${didYouMean(k, known)}`).join("; ")}; valid keys: ${known.join(", ")}`
        : undefined,
  });
}

const positiveInt = () => z.number().int().min(1);

/** A learning-rate schedule: Hugging Face's get_*_schedule_with_warmup shapes. */
export const scheduleSchema = strict({
  type: z.enum(["constant", "cosine", "linear"]).describe("shape after the warmup: constant, half cosine, or straight line down"),
  peak: z.number().positive().describe("peak learning rate, reached at the end of the warmup"),
  warmupSteps: z.number().int().min(0).optional().describe("steps of linear warmup from 0 (or use warmupRatio)"),
  warmupRatio: z.number().min(0).max(1).optional().describe("warmup as a fraction of the total steps, rounded up (TRL's warmup_ratio)"),
  minRatio: z.number().min(0).max(1).optional().describe("floor of the decay as a fraction of the peak (default 0)"),
})
  .refine((s) => s.warmupSteps === undefined || s.warmupRatio === undefined, {
    message: "give warmupSteps or warmupRatio, not both",
  })
  .meta({ title: "schedule" });

const ADAMW_ONLY = ["beta1", "beta2", "eps"] as const;
const SGD_ONLY = ["momentum", "nesterov"] as const;

export const optimizerSchema = strict({
  name: z.enum(["adamw", "sgd"]).default("adamw").describe("AdamW (decoupled weight decay) or SGD with momentum, as torch.optim"),
  lr: z
    .union([z.number().positive(), scheduleSchema])
    .describe('learning rate: a number > 0, or a schedule { "type", "peak", "warmupRatio" | "warmupSteps", "minRatio" }'),
  weightDecay: z
    .number()
    .min(0)
    .optional()
    .describe("weight decay (adamw: decoupled, default 0.01; sgd: added to the gradient, default 0)"),
  beta1: z.number().min(0).lt(1).optional().describe("adamw: first-moment decay, in [0, 1) (default 0.9)"),
  beta2: z.number().min(0).lt(1).optional().describe("adamw: second-moment decay, in [0, 1) (default 0.999)"),
  eps: z.number().positive().optional().describe("adamw: added to the denominator (default 1e-8)"),
  momentum: z.number().min(0).lt(1).optional().describe("sgd: momentum, in [0, 1) (default 0)"),
  nesterov: z.boolean().optional().describe("sgd: Nesterov momentum (needs momentum > 0)"),
  freeze: z
    .array(z.string().min(1))
    .optional()
    .describe('parameter path prefixes not to train, e.g. ["vision"]; each must match a parameter'),
}).superRefine((o, ctx) => {
  const other = o.name === "adamw" ? SGD_ONLY : ADAMW_ONLY;
  for (const k of other) if (o[k] !== undefined) ctx.addIssue({ code: "custom", path: [k], message: `"${k}" does not apply to ${o.name}` });
});

/**
 * The objective part, in one of two forms:
 * - native: { "name": "acpo", "beta": 0.1, ... }, or a weighted sum
 *   { "name": "weighted", "terms": [[{ "name": "dpo" }, 0.8], [{ "name": "sft" }, 1]] };
 *   the options are checked by the objective's factory, which names unknown ones;
 * - TRL: { "trl": { "loss_type": "sigmoid", "beta": 0.1, ... } }, the objective
 *   TRL's trainer would compute (fromTrl, docs/trl.md). Only `trainer` (default
 *   "dpo": this loop trains on pairs) and `version` are typed here, for editor
 *   completion; every other TRL field is checked by fromTrl, which says which
 *   version has a field, which fields are unsupported and which are training
 *   arguments, so the schema does not duplicate (and drift from) TRL's field lists.
 */
export const namedObjectiveSchema = z
  .object({ name: z.string().min(1).describe("objective name: dpo, ipo, acpo, mpo, ..., or weighted") })
  .catchall(z.unknown())
  .meta({ title: "native objective" });
export const trlObjectiveSchema = strict({
  trl: z
    .object({
      trainer: z
        .enum(["dpo", "cpo", "orpo"])
        .default("dpo")
        .describe("the TRL trainer whose loss to compute: DPOTrainer, CPOTrainer or ORPOTrainer"),
      version: z.enum(["0.25", "1"]).optional().describe('"0.25": TRL v0.25.1; "1" (default): TRL main'),
    })
    .catchall(z.unknown())
    .describe("TRL config fields (loss_type, loss_weights, beta, ...), checked by fromTrl: see docs/trl.md"),
}).meta({ title: "TRL objective" });

/** The member of the union the input meant: a "trl" key picks the TRL form, so its errors are the ones reported. */
const unionBranch = (input: unknown): 0 | 1 => (input && typeof input === "object" && "trl" in input ? 1 : 0);

export const objectiveSchema = z
  .union([namedObjectiveSchema, trlObjectiveSchema], {
    error: (iss) =>
      iss.code === "invalid_union" && iss.errors.length === 2
        ? iss.errors[unionBranch(iss.input)]!.map((i) => `${i.path.length ? `${i.path.join(".")}: ` : ""}${i.message}`).join("; ")
        : undefined,
  })
  .describe(
    'the preference objective: { "name": "acpo", "beta": 0.1, ... } (options as in docs/objectives.md), or { "trl": { ...TRL fields } } (docs/trl.md)',
  );

export const trainConfigSchema = strict({
  $schema: z.string().optional().describe("JSON schema for editor completion: docs/train.schema.json"),
  model: z.string().min(1).describe("model directory (init-model output or an InternVL checkpoint); relative to the config file"),
  data: z.string().min(1).describe("an MPO meta JSON, or one .jsonl annotation file; relative to the config file"),
  evalData: z
    .string()
    .min(1)
    .optional()
    .describe(
      "held-out pairs (MPO meta JSON or .jsonl) whose objective loss and metrics are logged as eval/...; relative to the config file",
    ),
  kind: z.enum(["preference", "sft"]).default("preference").describe('"preference" (chosen/rejected pairs) or "sft" (chosen replies only)'),
  objective: objectiveSchema,
  optimizer: optimizerSchema.describe("the optimizer and its learning rate"),
  steps: positiveInt().optional().describe("optimizer steps (default: one epoch)"),
  batchSize: positiveInt().default(8).describe("pairs per forward/backward pass (2·batchSize sequences)"),
  gradientAccumulationSteps: positiveInt().default(1).describe("passes whose gradients are averaged per optimizer step"),
  seed: z.number().int().min(0).default(0).describe("seed of the data order"),
  out: z.string().min(1).default("runs/train").describe("run folder: metrics.jsonl, checkpoints, model/; relative to the config file"),
  maxGradNorm: z.union([z.number().positive(), z.null()]).default(1).describe("clip the gradient to this global norm; null: no clipping"),
  evalEvery: positiveInt().optional().describe("evaluate on evalData every this many steps (default: after the last step only)"),
  saveEvery: positiveInt().optional().describe("save a checkpoint every this many steps (default: at the end and on interrupt)"),
  keepCheckpoints: positiveInt().default(2).describe("checkpoints kept on disk, newest first"),
  skipBad: z.boolean().default(false).describe("skip malformed data rows (counted and reported) instead of stopping"),
  jit: z.boolean().default(true).describe("compile each forward/backward pass with jit (fused kernels); false runs op by op"),
  system: z.string().optional().describe("system prompt (default: the model's chat template's)"),
}).refine((c) => c.evalEvery === undefined || c.evalData !== undefined, {
  path: ["evalEvery"],
  message: "evalEvery needs evalData (the held-out pairs to evaluate on)",
});

/** A config as written in the file (defaults not yet applied). */
export type TrainConfigInput = z.input<typeof trainConfigSchema>;
/** A checked config, defaults filled in, paths as written. */
export type TrainConfigParsed = z.output<typeof trainConfigSchema>;
export type ScheduleConfig = z.output<typeof scheduleSchema>;
export type OptimizerConfig = z.output<typeof optimizerSchema>;

/** "optimizer.lr.warmupRatioo: unknown key ... ; batchSize: Too small: expected number to be >=1". */
export function formatIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? `${i.path.join(".")}: ` : ""}${i.message}`).join("; ");
}

/** The JSON Schema of a config file, for editors (docs/train.schema.json). */
export const trainConfigJsonSchema = () => z.toJSONSchema(trainConfigSchema, { io: "input" });

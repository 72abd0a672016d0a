/**
 * TRL configs as TRL spells them: which loss fields each trainer has in each
 * version, their defaults, and the checks that turn a config into the
 * settings fromTrl computes with. A field is never ignored: it is used, or it
 * is an error that says why (another version has it, anchorgrad does not
 * support it, or it is a training argument rather than part of the loss).
 */
import { ObjectiveError } from "../types.js";

export type TrlTrainer = "dpo" | "cpo" | "orpo";
export type TrlVersion = "0.25" | "1";
/** "0.25": TRL v0.25.1 (commit 1cf8d56c); "1": TRL main (commit f2cd577). */
export const TRL_VERSIONS: readonly TrlVersion[] = ["0.25", "1"];
const VERSION_NAME: Record<TrlVersion, string> = { "0.25": "TRL v0.25.1", "1": "TRL main (1.x)" };

type FieldValue = number | boolean | string | null | readonly string[] | readonly number[];

/** A config as written for TRL, plus `trainer` and `version`. */
export interface TrlConfig {
  trainer: TrlTrainer;
  version?: TrlVersion;
  [field: string]: FieldValue | undefined;
}

/** The settings every trainer's loss reads, resolved over TRL's defaults. */
export interface TrlSettings {
  trainer: TrlTrainer;
  version: TrlVersion;
  lossTypes: string[];
  /** null: TRL's own default (no weights given). */
  lossWeights: number[] | null;
  beta: number;
  labelSmoothing: number;
  referenceFree: boolean;
  rpoAlpha: number | null;
  discopopTau: number;
  cpoAlpha: number;
  simpoGamma: number;
  alpha: number;
}

const DPO_LOSSES_025 = [
  "sigmoid",
  "hinge",
  "ipo",
  "exo_pair",
  "nca_pair",
  "robust",
  "bco_pair",
  "sppo_hard",
  "aot",
  "aot_pair",
  "apo_zero",
  "apo_down",
  "discopop",
  "sft",
];
const DPO_LOSSES_1 = [...DPO_LOSSES_025.filter((l) => l !== "aot_pair"), "aot_unpaired", "sigmoid_norm"];
const CPO_LOSSES = ["sigmoid", "hinge", "ipo", "simpo", "alphapo"];

/** The loss types per trainer and version. */
export const LOSS_TYPES: Record<TrlTrainer, Record<TrlVersion, readonly string[]>> = {
  dpo: { "0.25": DPO_LOSSES_025, "1": DPO_LOSSES_1 },
  cpo: { "0.25": CPO_LOSSES, "1": CPO_LOSSES },
  orpo: { "0.25": [], "1": [] },
};

/**
 * Fields TRL has that change the loss in ways anchorgrad does not compute;
 * each is accepted at the value that leaves the loss alone.
 */
const UNSUPPORTED: Record<string, { neutral: FieldValue; why: string }> = {
  use_weighting: { neutral: false, why: "WPO weights need the token logits of every vocabulary entry, not per-sequence sums" },
  f_divergence_type: { neutral: "reverse_kl", why: "only the reverse KL (standard DPO) is implemented" },
  ld_alpha: { neutral: null, why: "LD-DPO re-weights the tokens past the shorter completion, which per-sequence sums cannot express" },
  use_liger_kernel: { neutral: false, why: "the Liger fused loss is a CUDA kernel" },
};

/** Loss fields per trainer and version, with TRL's defaults (null: None). */
const FIELDS: Record<TrlTrainer, Record<TrlVersion, Record<string, FieldValue>>> = {
  dpo: {
    "0.25": {
      loss_type: "sigmoid",
      loss_weights: null,
      beta: 0.1,
      label_smoothing: 0,
      reference_free: false,
      rpo_alpha: null,
      discopop_tau: 0.05,
      f_alpha_divergence_coef: 1,
      ...Object.fromEntries(Object.entries(UNSUPPORTED).map(([k, v]) => [k, v.neutral])),
    },
    "1": {
      loss_type: "sigmoid",
      loss_weights: null,
      beta: 0.1,
      label_smoothing: 0,
      discopop_tau: 0.05,
      f_alpha_divergence_coef: 0.5,
      ...Object.fromEntries(Object.entries(UNSUPPORTED).map(([k, v]) => [k, v.neutral])),
    },
  },
  cpo: {
    "0.25": { loss_type: "sigmoid", beta: 0.1, label_smoothing: 0, cpo_alpha: 1, simpo_gamma: 0.5, alpha: 0 },
    "1": { loss_type: "sigmoid", beta: 0.1, label_smoothing: 0, cpo_alpha: 1, simpo_gamma: 0.5, alpha: 0 },
  },
  orpo: { "0.25": { beta: 0.1 }, "1": { beta: 0.1 } },
};

/** TRL training arguments that are not part of the loss: they belong in the train config. */
const TRAINING_ARGUMENTS = new Set([
  "learning_rate",
  "max_length",
  "max_prompt_length",
  "max_completion_length",
  "per_device_train_batch_size",
  "gradient_accumulation_steps",
  "num_train_epochs",
  "max_steps",
  "precompute_ref_log_probs",
  "padding_free",
  "truncation_mode",
  "sync_ref_model",
  "ref_model_mixup_alpha",
  "ref_model_sync_steps",
  "disable_dropout",
  "output_dir",
  "logging_steps",
  "gradient_checkpointing",
  "bf16",
  "seed",
]);

const TRAINER_CLASS: Record<TrlTrainer, string> = { dpo: "DPOConfig", cpo: "CPOConfig", orpo: "ORPOConfig" };

const fail = (msg: string): never => {
  throw new ObjectiveError(`fromTrl: ${msg}`);
};

function checkField(where: string, key: string, value: unknown, def: FieldValue): void {
  const isNum = (v: unknown) => typeof v === "number" && Number.isFinite(v);
  if (key === "loss_type") {
    const ok = typeof value === "string" || (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === "string"));
    if (!ok) fail(`${where}: loss_type must be a string or a non-empty list of strings, got ${JSON.stringify(value)}`);
  } else if (key === "loss_weights") {
    if (value !== null && !(Array.isArray(value) && value.every(isNum)))
      fail(`${where}: loss_weights must be null or a list of finite numbers, got ${JSON.stringify(value)}`);
  } else if (key in UNSUPPORTED) {
    if (value !== UNSUPPORTED[key]!.neutral)
      fail(
        `${where}: ${key} = ${JSON.stringify(value)} is not supported (${UNSUPPORTED[key]!.why}); use ${JSON.stringify(UNSUPPORTED[key]!.neutral)}`,
      );
  } else if (def === null) {
    if (value !== null && !isNum(value)) fail(`${where}: ${key} must be null or a finite number, got ${JSON.stringify(value)}`);
  } else if (typeof def === "number" ? !isNum(value) : typeof value !== typeof def) {
    fail(`${where}: ${key} must be ${typeof def === "number" ? "a finite number" : `a ${typeof def}`}, got ${JSON.stringify(value)}`);
  }
}

/** The config checked against the trainer's fields in its version, resolved over TRL's defaults. */
export function resolveTrlConfig(config: TrlConfig): TrlSettings {
  if (config === null || typeof config !== "object" || Array.isArray(config))
    fail(`expected a TRL config object such as { trainer: "dpo", loss_type: "sigmoid", beta: 0.1 }, got ${JSON.stringify(config)}`);
  const trainer = config.trainer;
  if (trainer !== "dpo" && trainer !== "cpo" && trainer !== "orpo")
    fail(`trainer must be "dpo", "cpo" or "orpo" (DPOTrainer, CPOTrainer, ORPOTrainer), got ${JSON.stringify(trainer)}`);
  const version = config.version ?? "1";
  if (!TRL_VERSIONS.includes(version)) fail(`version must be "0.25" (TRL v0.25.1) or "1" (TRL main), got ${JSON.stringify(version)}`);
  const where = `${VERSION_NAME[version]} ${TRAINER_CLASS[trainer]}`;
  const fields = FIELDS[trainer][version];
  const values: Record<string, FieldValue> = { ...fields };
  for (const [key, value] of Object.entries(config)) {
    if (key === "trainer" || key === "version" || value === undefined) continue;
    if (!(key in fields)) {
      const other = TRL_VERSIONS.find((v) => v !== version && key in FIELDS[trainer][v]);
      if (other) fail(`${where} has no field ${key}; ${VERSION_NAME[other]} has it (set version: "${other}")`);
      if (TRAINING_ARGUMENTS.has(key)) fail(`${key} is a training argument, not part of the loss; set it in the train config`);
      fail(`${where} has no loss field ${key}; its loss fields are ${Object.keys(fields).join(", ")}`);
    }
    checkField(where, key, value, fields[key]!);
    values[key] = value;
  }
  const lossTypes = lossTypeList(where, trainer, version, values.loss_type ?? null);
  const weights = values.loss_weights as number[] | null;
  if (weights !== null && weights !== undefined && weights.length > 0 && weights.length !== lossTypes.length)
    fail(`${where}: loss_weights has ${weights.length} entries for ${lossTypes.length} loss types (${lossTypes.join(", ")})`);
  const settings: TrlSettings = {
    trainer,
    version,
    lossTypes,
    lossWeights: weights && weights.length > 0 ? [...weights] : null,
    beta: values.beta as number,
    labelSmoothing: (values.label_smoothing as number | undefined) ?? 0,
    referenceFree: (values.reference_free as boolean | undefined) ?? false,
    rpoAlpha: (values.rpo_alpha as number | null | undefined) ?? null,
    discopopTau: (values.discopop_tau as number | undefined) ?? 0.05,
    cpoAlpha: (values.cpo_alpha as number | undefined) ?? 1,
    simpoGamma: (values.simpo_gamma as number | undefined) ?? 0.5,
    alpha: (values.alpha as number | undefined) ?? 0,
  };
  checkRanges(where, settings);
  return settings;
}

/** loss_type as a list (v0.25 turns a one-element list into a string and main a string into a list: both are accepted). */
function lossTypeList(where: string, trainer: TrlTrainer, version: TrlVersion, value: FieldValue): string[] {
  if (trainer === "orpo") return [];
  const list = typeof value === "string" ? [value] : [...(value as readonly string[])];
  const known = LOSS_TYPES[trainer][version];
  for (const l of list) {
    if (known.includes(l)) continue;
    const other = TRL_VERSIONS.find((v) => v !== version && LOSS_TYPES[trainer][v].includes(l));
    if (other) fail(`${where}: loss_type "${l}" exists in ${VERSION_NAME[other]} (set version: "${other}")`);
    fail(`${where}: unknown loss_type "${l}"; one of ${known.join(", ")}`);
  }
  if (trainer === "cpo" && list.length !== 1) fail(`${where}: CPOTrainer takes one loss_type, got ${JSON.stringify(list)}`);
  return list;
}

function checkRanges(where: string, s: TrlSettings): void {
  if (!(s.beta > 0)) fail(`${where}: beta must be > 0, got ${s.beta}`);
  if (!(s.labelSmoothing >= 0 && s.labelSmoothing <= 1)) fail(`${where}: label_smoothing must be in [0, 1], got ${s.labelSmoothing}`);
  if (s.lossTypes.includes("robust") && s.labelSmoothing === 0.5)
    fail(`${where}: label_smoothing 0.5 divides the robust loss by 1 − 2·0.5 = 0`);
  if (s.version === "1" && s.lossTypes.includes("exo_pair") && s.labelSmoothing === 0)
    fail(`${where}: exo_pair needs label_smoothing > 0 (TRL main raises the same error; the EXO paper uses 1e-3)`);
  if (!(s.discopopTau > 0)) fail(`${where}: discopop_tau must be > 0, got ${s.discopopTau}`);
}

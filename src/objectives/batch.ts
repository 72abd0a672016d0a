/**
 * Checking a PreferenceBatch and turning it into the per-pair terms that the
 * objectives are written in: S (or A = S / L), and the log-ratios r = S − Ŝ.
 */
import { cast } from "../ops/cast.js";
import { knownValues } from "../ops/create.js";
import { div, sub } from "../ops/elementwise.js";
import { isFloat, type DType } from "../tensor/dtype.js";
import { DTypeError, ShapeError } from "../tensor/errors.js";
import { fmt } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { ObjectiveError, type PreferenceBatch } from "./types.js";

/** The per-pair tensor fields (columns is a record of them, read by name through columnOf). */
export type BatchField = Exclude<keyof PreferenceBatch, "columns">;

/** What an objective reads from the batch. */
export interface BatchNeeds {
  /** Subtract the reference log-probs (false: r = S, the reference-free form). */
  readonly reference: boolean;
  /** Use per-token means A = S / L instead of sums S (reference log-probs too). */
  readonly lengthNormalize: boolean;
  /** Further chosen-side log-prob fields (normalised by the chosen lengths like S_c). */
  readonly extra?: readonly BatchField[];
  /** Fields read as they are when the batch has them (checked like the others, never normalised). */
  readonly optional?: readonly BatchField[];
}

/** The batch as objectives see it; every tensor is [B] in the policy's float dtype. */
export interface Terms {
  readonly size: number;
  readonly dtype: DType;
  /** Policy log-probs S_c, S_r (or A_c, A_r when length-normalised). */
  readonly chosen: Tensor;
  readonly rejected: Tensor;
  /** r_c = S_c − Ŝ_c, r_r = S_r − Ŝ_r (same normalisation); equal to chosen/rejected when reference-free. */
  readonly chosenRatio: Tensor;
  readonly rejectedRatio: Tensor;
  /** Ŝ_c, Ŝ_r normalised like chosen/rejected; null when reference-free. */
  readonly reference: { readonly chosen: Tensor; readonly rejected: Tensor } | null;
  /** S_c, S_r as given (sums over completion tokens), whatever the normalisation. */
  readonly chosenSum: Tensor;
  readonly rejectedSum: Tensor;
  /** L_c, L_r as floats, each > 0 wherever they could be read. */
  readonly chosenLengths: Tensor;
  readonly rejectedLengths: Tensor;
  /** The `extra` fields, normalised like `chosen`. */
  readonly extra: Readonly<Partial<Record<BatchField, Tensor>>>;
  /** The `optional` fields present in the batch, in the policy's dtype. */
  readonly optional: Readonly<Partial<Record<BatchField, Tensor>>>;
}

const REF_HINT =
  "it compares against the reference model; compute the reference log-probs, or build the objective with referenceFree: true";

/**
 * Host values of a small tensor for a validity check, or null where knowing
 * them would take a GPU readback (checks are then skipped: a training step
 * reads the GPU once, at its end).
 */
export function hostValues(t: Tensor): ArrayLike<number> | null {
  try {
    return knownValues(t);
  } catch {
    return null; // abstract values (makeGraph) have none
  }
}

/** Validate `batch` for objective `name` and compute its terms. */
export function prepareBatch(name: string, batch: PreferenceBatch, needs: BatchNeeds): Terms {
  if (batch === null || typeof batch !== "object")
    throw new ObjectiveError(`${name}: expected a PreferenceBatch object, got ${String(batch)}`);
  const policy: BatchField[] = ["policyChosenLogps", "policyRejectedLogps"];
  const reference: BatchField[] = needs.reference ? ["refChosenLogps", "refRejectedLogps"] : [];
  const lengths: BatchField[] = ["chosenLengths", "rejectedLengths"];
  const present = (needs.optional ?? []).filter((f) => batch[f] !== undefined && batch[f] !== null);
  const logpFields = [...policy, ...reference, ...(needs.extra ?? []), ...present.filter((f) => f.endsWith("Logps"))];
  const fields = [...logpFields, ...lengths, ...present.filter((f) => !f.endsWith("Logps"))];

  let size = -1;
  let sizeField = "";
  for (const f of fields) {
    const t = batch[f];
    if (t === undefined || t === null) {
      throw new ObjectiveError(`${name}: batch.${f} is missing${f.startsWith("ref") ? ` (${REF_HINT})` : ""}`);
    }
    if (!(t instanceof Tensor)) throw new ObjectiveError(`${name}: batch.${f} must be a Tensor, got ${typeof t}`);
    if (t.ndim !== 1) throw new ShapeError(`${name}: batch.${f} must be 1-D [B] (one entry per pair), got shape ${fmt(t.shape)}`);
    if (size < 0) {
      size = t.shape[0]!;
      sizeField = f;
    } else if (t.shape[0] !== size) {
      throw new ShapeError(`${name}: batch sizes differ: ${sizeField} has ${size} pairs but ${f} has ${t.shape[0]}`);
    }
  }
  if (size === 0) throw new ShapeError(`${name}: the batch is empty (0 pairs); the mean loss over no pairs is undefined`);
  for (const f of logpFields) {
    const t = batch[f]!;
    if (!isFloat(t.dtype)) throw new DTypeError(`${name}: batch.${f} must be a float tensor of log-probs, got ${t.dtype}`);
  }
  for (const f of lengths) checkLengths(name, f, batch[f]!);

  const dtype = batch.policyChosenLogps.dtype;
  const asFloat = (f: BatchField) => cast(batch[f]!, dtype);
  const chosenLengths = asFloat("chosenLengths"),
    rejectedLengths = asFloat("rejectedLengths");
  const perToken = (f: BatchField, L: Tensor) => (needs.lengthNormalize ? div(asFloat(f), L) : asFloat(f));
  const chosen = perToken("policyChosenLogps", chosenLengths);
  const rejected = perToken("policyRejectedLogps", rejectedLengths);
  const extra: Partial<Record<BatchField, Tensor>> = {};
  for (const f of needs.extra ?? []) extra[f] = perToken(f, chosenLengths);
  const ref = needs.reference
    ? { chosen: perToken("refChosenLogps", chosenLengths), rejected: perToken("refRejectedLogps", rejectedLengths) }
    : null;
  const optional: Partial<Record<BatchField, Tensor>> = {};
  for (const f of present) optional[f] = asFloat(f);
  return {
    size,
    dtype,
    chosen,
    rejected,
    chosenLengths,
    rejectedLengths,
    extra,
    optional,
    chosenSum: asFloat("policyChosenLogps"),
    rejectedSum: asFloat("policyRejectedLogps"),
    reference: ref,
    chosenRatio: ref ? sub(chosen, ref.chosen) : chosen,
    rejectedRatio: ref ? sub(rejected, ref.rejected) : rejected,
  };
}

function checkLengths(name: string, field: BatchField, t: Tensor): void {
  if (t.dtype === "bool") throw new DTypeError(`${name}: batch.${field} must hold token counts, got a bool tensor`);
  const values = hostValues(t);
  if (!values) return; // lengths on a device without synchronous reads are trusted
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!(v > 0) || !Number.isFinite(v)) {
      throw new ObjectiveError(
        `${name}: batch.${field}[${i}] = ${v}; completion lengths must be positive and finite ` +
          `(an all-masked row of sequenceLogps has count 0: drop that pair rather than divide by zero)`,
      );
    }
  }
}

export interface LogRatioOptions {
  lengthNormalize?: boolean;
  referenceFree?: boolean;
}

/**
 * The validated log-ratios r_c = S_c − Ŝ_c and r_r = S_r − Ŝ_r of a batch
 * (per-token with lengthNormalize; S itself with referenceFree): the usual
 * starting point of a custom objective.
 */
export function logRatios(batch: PreferenceBatch, opts: LogRatioOptions = {}): { chosen: Tensor; rejected: Tensor } {
  const t = prepareBatch("logRatios", batch, { reference: !opts.referenceFree, lengthNormalize: opts.lengthNormalize ?? false });
  return { chosen: t.chosenRatio, rejected: t.rejectedRatio };
}

/**
 * batch.columns[column] for objective `objective`, as a [B] tensor in the
 * terms' dtype: present, one entry per pair, and (where its values can be
 * read without a GPU readback) finite and ≥ 0, since it weights per-pair losses.
 */
export function columnOf(objective: string, batch: PreferenceBatch, column: string, t: Terms): Tensor {
  const c = batch.columns?.[column];
  if (c === undefined || c === null) {
    const have = Object.keys(batch.columns ?? {});
    throw new ObjectiveError(
      `${objective}: weights "${column}": batch.columns.${column} is missing (the batch has ${have.length ? `columns ${have.join(", ")}` : "no columns"}); ` +
        `with ag.train, give every data row a numeric "${column}" field`,
    );
  }
  if (!(c instanceof Tensor)) throw new ObjectiveError(`${objective}: batch.columns.${column} must be a Tensor, got ${typeof c}`);
  if (c.ndim !== 1 || c.shape[0] !== t.size)
    throw new ShapeError(`${objective}: batch.columns.${column} must be [${t.size}] (one entry per pair), got shape ${fmt(c.shape)}`);
  const values = hostValues(c);
  for (let i = 0; values && i < values.length; i++) {
    const v = values[i]!;
    if (!(v >= 0) || !Number.isFinite(v))
      throw new ObjectiveError(`${objective}: batch.columns.${column}[${i}] = ${v}; per-pair weights must be finite and >= 0`);
  }
  return cast(c, t.dtype);
}

/**
 * Objective options: user values merged over documented defaults. Unknown
 * names are rejected (a typo such as `betta` must not silently train with the
 * default), as are values of the wrong type; each objective then checks ranges.
 */
import { ObjectiveError } from "./types.js";

export type OptionValue = number | boolean | string | readonly number[];
export type Options = Record<string, OptionValue>;

/** `defaults` with the given options applied; throws naming the objective and option. */
export function resolveOptions<D extends Options>(objective: string, defaults: D, given: Partial<D> | undefined): D {
  if (given === undefined) return { ...defaults };
  if (given === null || typeof given !== "object" || Array.isArray(given)) {
    throw new ObjectiveError(`${objective}: options must be an object, got ${JSON.stringify(given)}`);
  }
  const out: Options = { ...defaults };
  for (const [key, value] of Object.entries(given)) {
    if (!(key in defaults)) {
      throw new ObjectiveError(`${objective}: unknown option "${key}"; ${objective} takes ${Object.keys(defaults).join(", ")}`);
    }
    if (value === undefined) continue;
    const d = defaults[key]!;
    const ok = Array.isArray(d)
      ? Array.isArray(value) && value.length === d.length && value.every((v) => typeof v === "number" && Number.isFinite(v))
      : typeof value === typeof d && (typeof value !== "number" || Number.isFinite(value));
    if (!ok) {
      const want = Array.isArray(d)
        ? `an array of ${d.length} finite numbers`
        : typeof d === "number"
          ? "a finite number"
          : `a ${typeof d}`;
      throw new ObjectiveError(`${objective}: option ${key} must be ${want}, got ${JSON.stringify(value)}`);
    }
    out[key] = value as OptionValue;
  }
  return out as D;
}

/** Throw unless lo ≤ value ≤ hi (or strict, per side). */
export function requireRange(
  objective: string,
  key: string,
  value: number,
  lo: number,
  hi: number,
  strict: { lo?: boolean; hi?: boolean } = {},
): void {
  const ok = (strict.lo ? value > lo : value >= lo) && (strict.hi ? value < hi : value <= hi);
  if (!ok) {
    const interval = `${strict.lo ? "(" : "["}${lo}, ${hi}${strict.hi ? ")" : "]"}`;
    throw new ObjectiveError(`${objective}: ${key} must be in ${interval}, got ${value}`);
  }
}

export function requirePositive(objective: string, key: string, value: number): void {
  if (!(value > 0)) throw new ObjectiveError(`${objective}: ${key} must be > 0, got ${value}`);
}

export function requireNonNegative(objective: string, key: string, value: number): void {
  if (!(value >= 0)) throw new ObjectiveError(`${objective}: ${key} must be >= 0, got ${value}`);
}

export function requireOneOf(objective: string, key: string, value: string, choices: readonly string[]): void {
  if (!choices.includes(value))
    throw new ObjectiveError(
      `${objective}: ${key} must be one of ${choices.map((c) => JSON.stringify(c)).join(", ")}, got ${JSON.stringify(value)}`,
    );
}

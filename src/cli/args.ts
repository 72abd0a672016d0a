/**
 * Flags of the anchorgrad command, declared as data: each has a type, a
 * default (or the text that says how the default is chosen) and one line of
 * meaning, so `--help` can list all three and parsing can check the value,
 * both from the same declaration.
 */
import { InvalidArgumentError } from "commander";

export class UsageError extends Error {
  override name = "UsageError";
}

/** A value's type as help prints it; a list is a choice among words. */
export type FlagType = "string" | "path" | "number" | "integer" | "boolean" | readonly string[];

export interface Flag {
  /** Long name without dashes: "steps", "no-progress" (a boolean whose presence turns something off). */
  readonly name: string;
  readonly type: FlagType;
  /** One line: what the flag means. */
  readonly description: string;
  /** The value used when the flag is absent. */
  readonly default?: string | number | boolean;
  /** How help shows the default when it is computed elsewhere ("one epoch", "$ANCHORGRAD_BACKEND, else cpu"). */
  readonly defaultText?: string;
  readonly required?: boolean;
  /** number/integer flags: the accepted range (default: > 0 for numbers, >= 1 for integers). */
  readonly check?: { readonly ok: (n: number) => boolean; readonly what: string };
}

/** Parsed flag values by flag name ("skip-bad", "no-progress": true when given). */
export type FlagValues = Readonly<Record<string, string | number | boolean | undefined>>;

const POSITIVE = { ok: (n: number) => n > 0, what: "a positive number" };
const POSITIVE_INT = { ok: (n: number) => Number.isInteger(n) && n >= 1, what: "a positive integer" };
export const NON_NEGATIVE_INT = { ok: (n: number) => Number.isInteger(n) && n >= 0, what: "a non-negative integer" };

/** The range check a numeric flag applies. */
export function numericCheck(f: Flag): { ok: (n: number) => boolean; what: string } {
  return f.check ?? (f.type === "integer" ? POSITIVE_INT : POSITIVE);
}

/** Parse one numeric flag value, throwing commander's error type so the message names the flag. */
export function parseNumber(f: Flag, raw: string): number {
  const c = numericCheck(f);
  const n = raw.trim() === "" ? NaN : Number(raw);
  if (!Number.isFinite(n) || !c.ok(n)) throw new InvalidArgumentError(`must be ${c.what}`);
  return n;
}

/** The type column of help: "integer", "path", "cpu|webgpu". */
export function typeLabel(f: Flag): string {
  if (typeof f.type !== "string") return f.type.join("|");
  if (f.type === "integer" || f.type === "number") return `${f.type}, ${numericCheck(f).what.replace(/^an? /, "")}`;
  return f.type;
}

/** The default column of help. */
export function defaultLabel(f: Flag): string {
  if (f.required) return "required";
  if (f.defaultText !== undefined) return `default: ${f.defaultText}`;
  if (f.default !== undefined) return `default: ${String(f.default)}`;
  return f.type === "boolean" ? "default: off" : "default: none";
}

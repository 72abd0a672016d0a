/** Minimal flag parsing for the anchorgrad command (node:util parseArgs underneath). */
import { parseArgs } from "node:util";

export class UsageError extends Error {
  override name = "UsageError";
}

export type FlagSpec = Record<string, { type: "string" | "boolean"; short?: string; default?: string | boolean; multiple?: boolean }>;

/** Parse `argv` against `options`; unknown flags are a UsageError naming the flag. */
export function parseFlags(
  argv: string[],
  options: FlagSpec,
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

type FlagValue = string | boolean | undefined;

/**
 * A numeric flag: `dflt` when absent, else its value, which must pass `ok`
 * (described by `what` in the error, e.g. "in (0, 1]").
 */
export function numberFlag<D extends number | undefined>(
  v: FlagValue,
  name: string,
  dflt: D,
  ok: (n: number) => boolean = (n) => n > 0,
  what = "a positive number",
): number | D {
  if (v === undefined) return dflt;
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
  if (!Number.isFinite(n) || !ok(n)) throw new UsageError(`--${name} must be ${what}, got "${String(v)}"`);
  return n;
}

/** An integer flag >= `min` (1 by default): `dflt` when absent. */
export function intFlag<D extends number | undefined>(v: FlagValue, name: string, dflt: D, min = 1): number | D {
  const what = min === 0 ? "a non-negative integer" : min === 1 ? "a positive integer" : `an integer >= ${min}`;
  return numberFlag(v, name, dflt, (n) => Number.isInteger(n) && n >= min, what);
}

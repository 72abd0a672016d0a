/** Minimal flag parsing for the anchorgrad command (node:util parseArgs underneath). */
import { parseArgs } from "node:util";

export class UsageError extends Error {
  override name = "UsageError";
}

export type FlagSpec = Record<string, { type: "string" | "boolean"; short?: string; default?: string | boolean; multiple?: boolean }>;

/** Parse `argv` against `options`; unknown flags are a UsageError naming the flag. */
export function parseFlags(argv: string[], options: FlagSpec): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

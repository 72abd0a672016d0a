/**
 * How the anchorgrad command reports a failure: one line that says what went
 * wrong, and an exit code. The stack is for us, not for the user, so it is
 * printed only with --verbose or ANCHORGRAD_DEBUG=1, or for an error we did
 * not anticipate (a bug, which should be reported with its stack).
 */
import { AnchorError } from "../tensor/errors.js";
import { UsageError } from "./args.js";

/** An error from the operating system (Node's SystemError shape: code "E...", syscall, maybe path). */
export interface OsError extends Error {
  code: string;
  syscall?: string;
  path?: string;
  dest?: string;
}

export function isOsError(e: unknown): e is OsError {
  return e instanceof Error && typeof (e as OsError).code === "string" && /^E[A-Z]+$/.test((e as OsError).code) && "syscall" in e;
}

/** The OS error in `e` or its `cause` chain (our errors may wrap one). */
function findOsError(e: unknown): OsError | undefined {
  for (let c: unknown = e, depth = 0; c && depth < 8; c = (c as Error).cause, depth++) if (isOsError(c)) return c;
  return undefined;
}

/** "runs/x/metrics.jsonl: no space left on device (ENOSPC, write)". */
export function describeOsError(e: OsError): string {
  // Node's message is "ENOSPC: no space left on device, write 'path'": keep the middle part
  const what = e.message.replace(/^E[A-Z]+:\s*/, "").replace(/,\s*\w+(\s+'.*')?(\s*->\s*'.*')?$/, "");
  const where = e.path ? `${e.path}${e.dest ? ` -> ${e.dest}` : ""}: ` : "";
  return `${where}${what} (${e.code}${e.syscall ? `, ${e.syscall}` : ""})`;
}

export interface Report {
  /** What to print on stderr. */
  text: string;
  exitCode: number;
}

/**
 * The report for an error thrown by command `name`: usage errors exit 2,
 * everything else 1; `usage` (the command's help) follows a usage error.
 */
export function reportError(name: string, e: unknown, opts: { verbose: boolean; usage?: string }): Report {
  const stack = (e instanceof Error && e.stack) || String(e);
  const withStack = (line: string) => (opts.verbose ? `${line}\n${stack}` : line);
  const prefix = `anchorgrad ${name}:`;
  if (e instanceof UsageError)
    return { text: `${withStack(`${prefix} ${e.message}`)}${opts.usage ? `\n\n${opts.usage}` : ""}`, exitCode: 2 };
  const os = findOsError(e);
  if (os) {
    const line = e === os ? describeOsError(os) : `${(e as Error).message} [${describeOsError(os)}]`;
    return { text: withStack(`${prefix} ${line}`), exitCode: 1 };
  }
  if (e instanceof AnchorError) return { text: withStack(`${prefix} ${e.message}`), exitCode: 1 };
  return { text: `${prefix} unexpected error (a bug: please report it with this trace)\n${stack}`, exitCode: 1 };
}

export const debugEnabled = (env: NodeJS.ProcessEnv = process.env): boolean => env.ANCHORGRAD_DEBUG === "1";

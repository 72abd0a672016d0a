/** The anchorgrad command without its process: dispatch, help, and how errors become one line and an exit code. */
import { didYouMean } from "../optim/closest.js";
import type { Command } from "./command.js";
import { debugEnabled, reportError } from "./errors.js";

export function programHelp(commands: readonly Command[]): string {
  const w = Math.max(...commands.map((c) => c.name.length));
  return [
    "usage: anchorgrad <command> [flags]",
    "",
    "commands:",
    ...commands.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    "",
    "anchorgrad <command> --help lists a command's flags, their types and defaults.",
  ].join("\n");
}

/**
 * Run `argv` and return the exit code the failure (if any) calls for: 0 when
 * the command returned, whatever it left in process.exitCode aside.
 */
export async function runCli(argv: readonly string[], commands: readonly Command[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "help" || name === "--help" || name === "-h") {
    console.log(programHelp(commands));
    return 0;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    const hint = didYouMean(
      name,
      commands.map((c) => c.name),
    );
    console.error(`anchorgrad: unknown command "${name}"${hint}\n\n${programHelp(commands)}`);
    return 2;
  }
  try {
    await cmd.run(rest);
    return 0;
  } catch (e) {
    const verbose = debugEnabled() || rest.includes("--verbose");
    const r = reportError(name, e, { verbose, usage: `run \`anchorgrad ${name} --help\` for its flags` });
    console.error(r.text);
    return r.exitCode;
  }
}

/**
 * Set the process's exit code from a run. A command may itself have set
 * process.exitCode (train: 130 after Ctrl-C, 143 after SIGTERM); a successful
 * return must not overwrite that with 0.
 */
export async function main(argv: readonly string[], commands: readonly Command[]): Promise<void> {
  const code = await runCli(argv, commands);
  if (code !== 0) process.exitCode = code;
}

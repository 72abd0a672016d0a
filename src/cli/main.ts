#!/usr/bin/env node
/** The anchorgrad command: dispatches to src/cli/commands/. */
import { AnchorError } from "../tensor/errors.js";
import { UsageError } from "./args.js";
import { commands } from "./commands/index.js";

function help(): string {
  const w = Math.max(...commands.map((c) => c.name.length));
  return [
    "usage: anchorgrad <command> [options]",
    "",
    ...commands.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    "",
    "anchorgrad <command> --help shows a command's options.",
  ].join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "help" || name === "--help" || name === "-h") {
    console.log(help());
    return 0;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    console.error(`anchorgrad: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(`usage: ${cmd.usage}`);
    return 0;
  }
  try {
    await cmd.run(rest);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`anchorgrad ${name}: ${e.message}\nusage: ${cmd.usage}`);
      return 2;
    }
    if (e instanceof AnchorError) {
      console.error(`anchorgrad ${name}: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

process.exitCode = await main(process.argv.slice(2));

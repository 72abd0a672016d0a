#!/usr/bin/env node
/** The anchorgrad command: dispatches to src/cli/commands/ (the bin entry; kept tiny so tests can drive src/cli/run.ts). */
import { commands } from "./commands/index.js";
import { main } from "./run.js";

await main(process.argv.slice(2), commands);

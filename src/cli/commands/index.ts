/** Every subcommand, in the order `anchorgrad help` lists them. */
import type { Command } from "../command.js";
import { doctor } from "./doctor.js";

export const commands: readonly Command[] = [doctor];

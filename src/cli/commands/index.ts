/** Every subcommand, in the order `anchorgrad help` lists them. */
import type { Command } from "../command.js";
import { demo } from "./demo.js";
import { doctor } from "./doctor.js";
import { exportCommand } from "./export.js";
import { generateCommand } from "./generate.js";
import { initModel } from "./init-model.js";
import { trainCommand } from "./train.js";

export const commands: readonly Command[] = [doctor, initModel, generateCommand, trainCommand, exportCommand, demo];

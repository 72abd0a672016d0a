/** `anchorgrad train --config FILE.json`: train any InternVL model directory on MPO-format data with any objective. */
import { trainFromConfig, readTrainConfig } from "../../train/config.js";
import { intFlag, parseFlags, UsageError } from "../args.js";
import type { Command } from "../command.js";

export const trainCommand: Command = {
  name: "train",
  summary: "train a model directory on MPO-format data with any objective (--config FILE.json)",
  usage: "anchorgrad train --config FILE.json [--resume] [--skip-bad] [--steps N] [--out DIR] [--no-progress]",
  async run(argv) {
    const { values: v } = parseFlags(argv, {
      config: { type: "string" },
      resume: { type: "boolean" },
      "skip-bad": { type: "boolean" },
      steps: { type: "string" },
      out: { type: "string" },
      "no-progress": { type: "boolean" },
    });
    if (typeof v.config !== "string") throw new UsageError("--config FILE.json is required");
    const steps = intFlag(v.steps, "steps", undefined);
    const config = readTrainConfig(v.config, {
      ...(v["skip-bad"] === true && { skipBad: true }),
      ...(steps !== undefined && { steps }),
      ...(typeof v.out === "string" && { out: v.out }),
    });
    const run = await trainFromConfig(config, {
      resume: v.resume === true,
      progress: v["no-progress"] !== true && !!process.stderr.isTTY,
      log: (l) => console.log(l),
    });
    const last = run.history.at(-1);
    console.log(
      run.interrupted
        ? `interrupted at step ${run.step}; checkpoint ${run.checkpoint} (continue with --resume)`
        : `done: ${run.step} steps, final loss ${last?.loss?.toFixed(4)}; metrics ${config.out}/metrics.jsonl, model ${config.out}/model`,
    );
    if (run.interrupted) process.exitCode = 130;
  },
};

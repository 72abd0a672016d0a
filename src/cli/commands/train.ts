/** `anchorgrad train --config FILE.json`: train any InternVL model directory on MPO-format data with any objective. */
import { trainFromConfig, readTrainConfig } from "../../train/config.js";
import { selectBackend, BACKEND_FLAG } from "../backend.js";
import { defineCommand } from "../command.js";

export const trainCommand = defineCommand({
  name: "train",
  summary: "train a model directory on MPO-format data with any objective (--config FILE.json)",
  flags: [
    { name: "config", type: "path", required: true, description: "the run's JSON config; its fields are documented in docs/train.md" },
    { name: "resume", type: "boolean", description: "continue from the newest checkpoint in the run's out folder" },
    {
      name: "force",
      type: "boolean",
      description:
        "with --resume: continue even if the config or data set differ from the checkpoint's (the differences are listed otherwise)",
    },
    { name: "skip-bad", type: "boolean", description: "skip malformed data rows (counted and reported) instead of stopping" },
    { name: "steps", type: "integer", defaultText: "the config's steps, else one epoch", description: "optimizer steps to run" },
    { name: "out", type: "path", defaultText: "the config's out", description: "run folder: metrics.jsonl, checkpoints, the final model" },
    { name: "no-progress", type: "boolean", description: "no progress bar (it is shown only on a terminal anyway)" },
    {
      name: "no-jit",
      type: "boolean",
      description: "run each pass op by op instead of as a jit-compiled program (same numbers; for debugging)",
    },
    BACKEND_FLAG,
  ],
  epilog: "example:\n  npx anchorgrad train --config run.json --backend cpu --steps 10",
  async action(v) {
    const backend = await selectBackend(v.backend);
    const config = readTrainConfig(v.config as string, {
      ...(v["skip-bad"] === true && { skipBad: true }),
      ...(v.steps !== undefined && { steps: v.steps as number }),
      ...(v.out !== undefined && { out: v.out as string }),
      ...(v["no-jit"] === true && { jit: false }),
    });
    console.log(`backend ${backend.name}${backend.adapter ? ` (${backend.adapter})` : ""}`);
    const run = await trainFromConfig(config, {
      resume: v.resume === true,
      force: v.force === true,
      progress: v["no-progress"] !== true && !!process.stderr.isTTY,
      log: (l) => console.log(l),
    });
    const last = run.history.at(-1);
    console.log(
      run.interrupted
        ? `interrupted at step ${run.step}; checkpoint ${run.checkpoint} (continue with --resume)`
        : `done: ${run.step} steps, final loss ${last?.loss?.toFixed(4)}; metrics ${config.out}/metrics.jsonl, model ${config.out}/model`,
    );
    // a caught SIGINT/SIGTERM already set process.exitCode to 130/143 (src/train/stop.ts)
  },
});

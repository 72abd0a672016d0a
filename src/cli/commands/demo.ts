/** `anchorgrad demo`: SFT a tiny InternVL, then DPO vs ACPO on synthetic shapes; writes a report (what `npm start` runs). */
import { rm } from "node:fs/promises";
import { DEMO_DEFAULTS, runDemo } from "../../train/demo.js";
import { intFlag, numberFlag, parseFlags } from "../args.js";
import type { Command } from "../command.js";

export const demo: Command = {
  name: "demo",
  summary: "SFT a tiny InternVL, then DPO vs ACPO on synthetic shapes; writes runs/demo/report.html",
  usage:
    "anchorgrad demo [--out DIR] [--seed N] [--align-steps N] [--align-lr X] [--sft-steps N] [--steps N] [--batch-size N] [--lr X] [--sft-lr X] [--beta X] [--delta X] [--quick] [--no-progress]",
  async run(argv) {
    const { values: v } = parseFlags(argv, {
      out: { type: "string" },
      seed: { type: "string" },
      "align-steps": { type: "string" },
      "align-lr": { type: "string" },
      "sft-steps": { type: "string" },
      steps: { type: "string" },
      "batch-size": { type: "string" },
      lr: { type: "string" },
      "sft-lr": { type: "string" },
      beta: { type: "string" },
      delta: { type: "string" },
      quick: { type: "boolean" },
      "no-progress": { type: "boolean" },
    });
    // --quick (or ANCHORGRAD_DEMO_QUICK=1): the same pipeline on a fraction of the data and steps, for CI
    const quick = v.quick === true || process.env.ANCHORGRAD_DEMO_QUICK === "1";
    const d = DEMO_DEFAULTS;
    const out = typeof v.out === "string" ? v.out : d.out;
    await rm(out, { recursive: true, force: true });
    await runDemo({
      out,
      seed: intFlag(v.seed, "seed", d.seed, 0),
      alignSteps: intFlag(v["align-steps"], "align-steps", quick ? 4 : d.alignSteps),
      alignLr: numberFlag(v["align-lr"], "align-lr", d.alignLr),
      sftSteps: intFlag(v["sft-steps"], "sft-steps", quick ? 6 : d.sftSteps),
      sftBatchSize: d.sftBatchSize,
      sftLr: numberFlag(v["sft-lr"], "sft-lr", d.sftLr),
      preferenceSteps: intFlag(v.steps, "steps", quick ? 4 : d.preferenceSteps),
      batchSize: intFlag(v["batch-size"], "batch-size", quick ? 4 : d.batchSize),
      lr: numberFlag(v.lr, "lr", d.lr),
      beta: numberFlag(v.beta, "beta", d.beta),
      delta: numberFlag(v.delta, "delta", d.delta),
      images: quick ? { sft: 16, pairs: 16, eval: 6 } : d.images,
      progress: v["no-progress"] !== true && !!process.stderr.isTTY,
      log: (line) => console.log(line),
    });
  },
};

/** `anchorgrad demo`: SFT a tiny InternVL, then DPO vs ACPO on synthetic shapes; writes a report (what `npm start` runs). */
import { rm } from "node:fs/promises";
import { DEMO_DEFAULTS, runDemo } from "../../train/demo.js";
import { parseFlags, UsageError } from "../args.js";
import type { Command } from "../command.js";

const int = (v: string | boolean | undefined, name: string, dflt: number, min = 1): number => {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got ${String(v)}`);
  return n;
};
const num = (v: string | boolean | undefined, name: string, dflt: number): number => {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new UsageError(`--${name} must be a positive number, got ${String(v)}`);
  return n;
};

export const demo: Command = {
  name: "demo",
  summary: "SFT a tiny InternVL, then DPO vs ACPO on synthetic shapes; writes runs/demo/report.html",
  usage: "anchorgrad demo [--out DIR] [--seed N] [--align-steps N] [--align-lr X] [--sft-steps N] [--steps N] [--batch-size N] [--lr X] [--sft-lr X] [--beta X] [--delta X] [--quick] [--no-progress]",
  async run(argv) {
    const { values: v } = parseFlags(argv, {
      out: { type: "string" }, seed: { type: "string" }, "align-steps": { type: "string" }, "align-lr": { type: "string" }, "sft-steps": { type: "string" }, steps: { type: "string" },
      "batch-size": { type: "string" }, lr: { type: "string" }, "sft-lr": { type: "string" }, beta: { type: "string" }, delta: { type: "string" },
      quick: { type: "boolean" }, "no-progress": { type: "boolean" },
    });
    // --quick (or ANCHORGRAD_DEMO_QUICK=1): the same pipeline on a fraction of the data and steps, for CI
    const quick = v.quick === true || process.env.ANCHORGRAD_DEMO_QUICK === "1";
    const d = DEMO_DEFAULTS;
    const out = typeof v.out === "string" ? v.out : d.out;
    await rm(out, { recursive: true, force: true });
    await runDemo({
      out,
      seed: int(v.seed, "seed", d.seed, 0),
      alignSteps: int(v["align-steps"], "align-steps", quick ? 4 : d.alignSteps),
      alignLr: num(v["align-lr"], "align-lr", d.alignLr),
      sftSteps: int(v["sft-steps"], "sft-steps", quick ? 6 : d.sftSteps),
      sftBatchSize: d.sftBatchSize,
      sftLr: num(v["sft-lr"], "sft-lr", d.sftLr),
      preferenceSteps: int(v.steps, "steps", quick ? 4 : d.preferenceSteps),
      batchSize: int(v["batch-size"], "batch-size", quick ? 4 : d.batchSize),
      lr: num(v.lr, "lr", d.lr),
      beta: num(v.beta, "beta", d.beta),
      delta: num(v.delta, "delta", d.delta),
      images: quick ? { sft: 16, pairs: 16, eval: 6 } : d.images,
      progress: v["no-progress"] !== true && !!process.stderr.isTTY,
      log: (line) => console.log(line),
    });
  },
};

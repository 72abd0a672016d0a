/** `anchorgrad demo`: SFT a tiny InternVL, then DPO vs ACPO on synthetic shapes; writes a report (what `npm start` runs). */
import { rm } from "node:fs/promises";
import { DEMO_DEFAULTS as d, runDemo } from "../../demo/demo.js";
import { NON_NEGATIVE_INT } from "../args.js";
import { BACKEND_FLAG, selectBackend } from "../backend.js";
import { defineCommand } from "../command.js";

/** --quick's defaults: the same pipeline on a fraction of the data and steps, for CI. */
const QUICK = { alignSteps: 4, sftSteps: 6, preferenceSteps: 4, batchSize: 4, images: { sft: 16, pairs: 16, eval: 6 } };
const orQuick = (full: number, quick: number) => `${full} (${quick} with --quick)`;

export const demo = defineCommand({
  name: "demo",
  summary: "SFT a tiny InternVL, then DPO vs ACPO on synthetic shapes; writes runs/demo/report.html",
  flags: [
    { name: "out", type: "path", default: d.out, description: "output folder (emptied first): report.html, summary.json, plots, runs" },
    {
      name: "seed",
      type: "integer",
      default: d.seed,
      check: NON_NEGATIVE_INT,
      description: "seed for the data, the model and the data order",
    },
    {
      name: "align-steps",
      type: "integer",
      defaultText: orQuick(d.alignSteps, QUICK.alignSteps),
      description: "projector alignment steps before SFT",
    },
    { name: "align-lr", type: "number", default: d.alignLr, description: "learning rate of the alignment stage" },
    {
      name: "sft-steps",
      type: "integer",
      defaultText: orQuick(d.sftSteps, QUICK.sftSteps),
      description: "supervised fine-tuning steps (the reference model)",
    },
    { name: "sft-lr", type: "number", default: d.sftLr, description: "learning rate of the SFT stage" },
    {
      name: "steps",
      type: "integer",
      defaultText: orQuick(d.preferenceSteps, QUICK.preferenceSteps),
      description: "DPO and ACPO steps each",
    },
    { name: "batch-size", type: "integer", defaultText: orQuick(d.batchSize, QUICK.batchSize), description: "preference pairs per step" },
    { name: "lr", type: "number", default: d.lr, description: "learning rate of DPO and ACPO" },
    { name: "beta", type: "number", default: d.beta, description: "β of DPO and ACPO (the KL strength)" },
    { name: "delta", type: "number", default: d.delta, description: "ACPO's δ (the anchor's margin)" },
    { name: "quick", type: "boolean", description: "a few steps on a little data, for CI (also ANCHORGRAD_DEMO_QUICK=1)" },
    { name: "no-progress", type: "boolean", description: "no progress bars (they are shown only on a terminal anyway)" },
    BACKEND_FLAG,
  ],
  async action(v) {
    const quick = v.quick === true || process.env.ANCHORGRAD_DEMO_QUICK === "1";
    const backend = await selectBackend(v.backend);
    const out = v.out as string;
    await rm(out, { recursive: true, force: true });
    const n = (name: string, full: number, q: number) => (v[name] as number | undefined) ?? (quick ? q : full);
    await runDemo({
      out,
      seed: v.seed as number,
      alignSteps: n("align-steps", d.alignSteps, QUICK.alignSteps),
      alignLr: v["align-lr"] as number,
      sftSteps: n("sft-steps", d.sftSteps, QUICK.sftSteps),
      sftBatchSize: d.sftBatchSize,
      sftLr: v["sft-lr"] as number,
      preferenceSteps: n("steps", d.preferenceSteps, QUICK.preferenceSteps),
      batchSize: n("batch-size", d.batchSize, QUICK.batchSize),
      lr: v.lr as number,
      beta: v.beta as number,
      delta: v.delta as number,
      images: quick ? QUICK.images : d.images,
      backend,
      progress: v["no-progress"] !== true && !!process.stderr.isTTY,
      log: (line) => console.log(line),
    });
  },
});

/** A demo summary and per-step histories shaped like the demo's, for the report tests. */
import type { DemoSummary, ReportInput } from "../../src/report/index.js";
import { popeScores } from "../../src/train/index.js";

const pope = (acc: boolean[]) => ({
  random: popeScores([true, false, true, false], acc),
  popular: popeScores([true, false, true, false], acc),
  adversarial: popeScores([true, false, true, false], acc),
});

export const SPLITS = ["random", "popular", "adversarial"] as const;

export const summary: DemoSummary = {
  objectives: {
    dpo: {
      final: { "rewards/chosen": -0.25, "rewards/rejected": -1.5, "rewards/margins": 1.25, "logps/chosen": -6 },
      pope: pope([true, true, true, false]),
      visualReliance: 1.5,
      options: { beta: 0.1 },
      seconds: 1,
    },
    acpo: {
      final: { "rewards/chosen": 0.125, "rewards/rejected": -0.5, "rewards/margins": 0.625, "logps/chosen": -3 },
      pope: pope([true, false, true, false]),
      visualReliance: 3,
      options: { beta: 0.1 },
      seconds: 1,
    },
  },
  sft: { final: { loss: 0.5 }, pope: pope([true, false, false, false]), visualReliance: 2.5, seconds: 1 },
  reference: { "logps/chosen": -4, "logps/rejected": -9 },
  settings: { seed: 1 },
  seconds: 3,
};

/** `n` steps (from 1) of a run whose curves move at speed `k`. */
export const history = (k: number, n = 12) =>
  Array.from({ length: n }, (_, i) => ({
    step: i + 1,
    loss: 0.7 - 0.01 * i * k,
    "rewards/chosen": -0.01 * i * k,
    "rewards/rejected": -0.05 * i,
    "rewards/margins": 0.04 * i,
    "logps/chosen": -4 - 0.1 * i * k,
  }));

/** A whole report's input: `sftSteps` steps of SFT, then 12 steps of DPO and of ACPO. */
export const reportInput = (sftSteps = 30): ReportInput => ({
  title: "demo",
  summary,
  histories: { dpo: history(2), acpo: history(0) },
  sftHistory: history(1, sftSteps),
  splits: SPLITS,
  notes: ["a <note> & more"],
});

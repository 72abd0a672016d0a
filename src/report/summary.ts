/** The demo's summary: what summary.json holds, and its terminal table. */
import type { PopeScores } from "../train/eval.js";
import { formatTable } from "./table.js";

export interface ModelEval {
  pope: Record<string, PopeScores>;
  /** Mean log p(chosen | image) − log p(chosen | blank image), nats per reply. */
  visualReliance: number;
}

export interface ObjectiveSummary extends ModelEval {
  /**
   * Over every training pair with the final parameters (not one batch):
   * rewards/chosen = β·mean(S_c − Ŝ_c), rewards/rejected, rewards/margins,
   * rewards/accuracies, and the policy's mean summed log-probs logps/chosen, logps/rejected.
   */
  final: Record<string, number>;
  /** The objective's options (β, δ, ...). */
  options: Record<string, unknown>;
  seconds: number;
}

export interface DemoSummary {
  objectives: Record<string, ObjectiveSummary>;
  sft: ModelEval & { final: Record<string, number>; seconds: number };
  /** The reference (SFT) model's mean log-probs over the pairs, for comparison with final logps. */
  reference: { "logps/chosen": number; "logps/rejected": number };
  settings: Record<string, unknown>;
  seconds: number;
}

/** The summary's cells, one row per model: what the terminal table and the report's HTML table both show. */
export function summaryCells(s: DemoSummary, splits: readonly string[]): { header: string[]; rows: (string | number)[][] } {
  const header = [
    "model",
    "rewards/chosen",
    "rewards/rejected",
    "rewards/margins",
    "logps/chosen",
    ...splits.flatMap((sp) => [`${sp} acc`, `${sp} F1`]),
    "yes-ratio (pop)",
    "visual reliance",
  ];
  const pope = (e: ModelEval) => splits.flatMap((sp) => [e.pope[sp]?.accuracy ?? NaN, e.pope[sp]?.f1 ?? NaN]);
  const rows: (string | number)[][] = [
    ["sft (reference)", 0, 0, 0, s.reference["logps/chosen"], ...pope(s.sft), s.sft.pope.popular?.yesRatio ?? NaN, s.sft.visualReliance],
    ...Object.entries(s.objectives).map(([name, o]) => [
      name,
      o.final["rewards/chosen"]!,
      o.final["rewards/rejected"]!,
      o.final["rewards/margins"]!,
      o.final["logps/chosen"]!,
      ...pope(o),
      o.pope.popular?.yesRatio ?? NaN,
      o.visualReliance,
    ]),
  ];
  return { header, rows };
}

/** One row per model: final rewards, log-probs, POPE per split and visual reliance. */
export function summaryTable(s: DemoSummary, splits: readonly string[]): string {
  const { header, rows } = summaryCells(s, splits);
  return formatTable(header, rows);
}

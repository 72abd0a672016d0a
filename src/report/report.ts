/**
 * The demo report: SVG plots of the training curves and the evaluation, and
 * one self-contained report.html (plots inlined, no scripts, works offline).
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { MetricRow } from "../train/metrics.js";
import { groupedBars, lineChart, renderSvg, type Row } from "./plots.js";
import { summaryTable, type DemoSummary } from "./summary.js";

export interface ReportInput {
  title: string;
  summary: DemoSummary;
  /** Per-step metrics of each preference run, and of the SFT run. */
  histories: Record<string, MetricRow[]>;
  sftHistory: MetricRow[];
  splits: readonly string[];
  /** Paragraphs (plain text) shown above the plots: what was run and what it shows. */
  notes: string[];
}

/** Centred moving average over `w` steps, to read a trend through per-batch noise. */
export function smooth(values: readonly number[], w: number): number[] {
  const h = Math.floor(w / 2);
  return values.map((_, i) => {
    const part = values.slice(Math.max(0, i - h), Math.min(values.length, i + h + 1));
    return part.reduce((a, b) => a + b, 0) / part.length;
  });
}

const escape = (s: string) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

/** Render every plot; returns file name -> SVG. */
export async function renderPlots(input: ReportInput): Promise<Record<string, string>> {
  const curve = (metric: string): Row[] =>
    Object.entries(input.histories).flatMap(([name, rows]) => {
      const s = smooth(
        rows.map((r) => r[metric] ?? NaN),
        5,
      );
      return rows.map((r, i) => ({ objective: name, step: r.step!, [metric]: s[i]! }));
    });
  const plots: Record<string, Promise<string>> = {};
  for (const metric of ["rewards/chosen", "rewards/rejected", "rewards/margins", "logps/chosen", "loss"]) {
    plots[`${metric.replace("/", "_")}.svg`] = renderSvg(
      lineChart({ title: `${metric} per step (5-step moving average)`, rows: curve(metric), x: "step", y: metric, series: "objective" }),
    );
  }
  const sftRows = input.sftHistory.map((r, i, all) => ({
    run: "sft",
    step: r.step!,
    loss: smooth(
      all.map((x) => x.loss!),
      5,
    )[i]!,
  }));
  plots["sft_loss.svg"] = renderSvg(
    lineChart({ title: "SFT loss per step (5-step moving average)", rows: sftRows, x: "step", y: "loss", series: "run" }),
  );
  const models = { sft: input.summary.sft, ...input.summary.objectives };
  const popeRows: Row[] = Object.entries(models).flatMap(([model, e]) =>
    input.splits.map((split) => ({ model, split, F1: e.pope[split]?.f1 ?? null, accuracy: e.pope[split]?.accuracy ?? null })),
  );
  plots["pope_f1.svg"] = renderSvg(
    groupedBars({ title: "POPE F1 per split", rows: popeRows, group: "split", series: "model", y: "F1", yDomain: [0, 1] }),
  );
  plots["pope_accuracy.svg"] = renderSvg(
    groupedBars({ title: "POPE accuracy per split", rows: popeRows, group: "split", series: "model", y: "accuracy", yDomain: [0, 1] }),
  );
  const vr: Row[] = Object.entries(models).map(([model, e]) => ({ model, measure: "visual reliance", nats: e.visualReliance }));
  plots["visual_reliance.svg"] = renderSvg(
    groupedBars({
      title: "Visual reliance: log p(chosen | image) − log p(chosen | blank)",
      rows: vr,
      group: "measure",
      series: "model",
      y: "nats",
      width: 240,
    }),
  );
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(plots)) out[k] = await v;
  return out;
}

function html(input: ReportInput, svgs: Record<string, string>): string {
  const figure = (name: string) => `<figure>${svgs[name]}</figure>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(input.title)}</title>
<style>
body { font-family: sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 12px; }
p { line-height: 1.45; max-width: 60em; }
</style></head><body>
<h1>${escape(input.title)}</h1>
${input.notes.map((n) => `<p>${escape(n)}</p>`).join("\n")}
<h2>Summary</h2>
<pre>${escape(summaryTable(input.summary, input.splits))}</pre>
<h2>Preference training</h2>
${["rewards_chosen.svg", "rewards_rejected.svg", "rewards_margins.svg", "logps_chosen.svg", "loss.svg"].map(figure).join("\n")}
<h2>Evaluation</h2>
${["pope_f1.svg", "pope_accuracy.svg", "visual_reliance.svg"].map(figure).join("\n")}
<h2>SFT</h2>
${figure("sft_loss.svg")}
<h2>Settings</h2>
<pre>${escape(JSON.stringify(input.summary.settings, null, 2))}</pre>
</body></html>
`;
}

/** Write the SVGs and report.html into `dir`; returns the report's path. */
export async function writeReport(dir: string, input: ReportInput): Promise<string> {
  const svgs = await renderPlots(input);
  for (const [name, svg] of Object.entries(svgs)) await writeFile(join(dir, name), svg);
  const file = join(dir, "report.html");
  await writeFile(file, html(input, svgs));
  return file;
}

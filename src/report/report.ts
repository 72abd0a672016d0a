/**
 * The demo report: SVG plots of the training curves and the evaluation, and
 * one self-contained report.html (plots inlined, no scripts, works offline).
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { MetricRow } from "../train/metrics.js";
import { groupedBars, lineChart, renderSvg, type PhaseMark, type Row } from "./plots.js";
import { summaryCells, type DemoSummary } from "./summary.js";

export interface ReportInput {
  title: string;
  summary: DemoSummary;
  /**
   * Per-step metrics of each preference run (steps from 1), and of the SFT
   * that preceded them (steps from 1, all SFT stages in one sequence).
   */
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

/**
 * Every step plot shares one step axis: SFT takes steps 1..S and preference
 * training continues at S + 1, where each plot draws the boundary, so a
 * reader sees which phase a curve belongs to and how the preference runs
 * start from where SFT ended. Without SFT history there is no boundary.
 */
function sftBoundary(sftHistory: readonly MetricRow[]): { offset: number; mark?: PhaseMark } {
  const last = Math.max(0, ...sftHistory.map((r) => r.step ?? 0));
  return last > 0 ? { offset: last, mark: { at: last + 1, label: `SFT | preference training from step ${last + 1}` } } : { offset: 0 };
}

/** Render every plot; returns file name -> SVG. */
export async function renderPlots(input: ReportInput): Promise<Record<string, string>> {
  const { offset, mark } = sftBoundary(input.sftHistory);
  const smoothed = (run: string, rows: readonly MetricRow[], metric: string, shift: number): Row[] => {
    const s = smooth(
      rows.map((r) => r[metric] ?? NaN),
      5,
    );
    return rows.map((r, i) => ({ run, step: r.step! + shift, [metric]: s[i]! }));
  };
  const curve = (metric: string): Row[] => Object.entries(input.histories).flatMap(([name, rows]) => smoothed(name, rows, metric, offset));
  const preferenceSteps = Math.max(0, ...Object.values(input.histories).map((rows) => rows.length));
  // the loss plot also shows the end of SFT (as many steps as preference training took), leading up to the boundary
  const sftTail = smoothed("sft", input.sftHistory, "loss", 0).slice(-Math.max(preferenceSteps, 1));
  const plots: Record<string, Promise<string>> = {};
  for (const metric of ["rewards/chosen", "rewards/rejected", "rewards/margins", "logps/chosen", "loss"]) {
    const rows = metric === "loss" ? [...sftTail, ...curve(metric)] : curve(metric);
    plots[`${metric.replace("/", "_")}.svg`] = renderSvg(
      lineChart({
        title: `${metric} per step (5-step moving average)`,
        rows,
        x: "step",
        y: metric,
        series: "run",
        ...(mark && { boundary: mark }),
      }),
    );
  }
  plots["sft_loss.svg"] = renderSvg(
    lineChart({
      title: "SFT loss per step (5-step moving average)",
      rows: smoothed("sft", input.sftHistory, "loss", 0),
      x: "step",
      y: "loss",
      series: "run",
      ...(mark && { boundary: mark }),
    }),
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

/**
 * The summary as an HTML table (not the terminal's fixed-width text): headers
 * wrap (also after a "/"), so all columns fit a 1280 px window; a <pre> of the
 * text table is wider than that and hid its last columns behind a scrollbar.
 */
function summaryHtml(input: ReportInput): string {
  const { header, rows } = summaryCells(input.summary, input.splits);
  const th = header.map((h) => `<th>${escape(h).replaceAll("/", "/<wbr>")}</th>`).join("");
  const td = (c: string | number) =>
    typeof c === "number" ? `<td class="num">${Number.isFinite(c) ? c.toFixed(3) : String(c)}</td>` : `<td>${escape(c)}</td>`;
  return `<table class="summary"><thead><tr>${th}</tr></thead><tbody>
${rows.map((r) => `<tr>${r.map(td).join("")}</tr>`).join("\n")}
</tbody></table>`;
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
table.summary { border-collapse: collapse; font-size: 13px; }
table.summary th { font-weight: 600; text-align: right; vertical-align: bottom; padding: 4px 8px; border-bottom: 1px solid #999; }
table.summary th:first-child, table.summary td:not(.num) { text-align: left; }
table.summary td { padding: 3px 8px; white-space: nowrap; border-bottom: 1px solid #eee; }
table.summary td.num { text-align: right; font-variant-numeric: tabular-nums; }
</style></head><body>
<h1>${escape(input.title)}</h1>
${input.notes.map((n) => `<p>${escape(n)}</p>`).join("\n")}
<h2>Summary</h2>
${summaryHtml(input)}
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

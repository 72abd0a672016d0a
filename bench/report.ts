/** Result rows, the printed table, latest.json / latest.md, the cost-growth fit and the speed targets. */
import { mkdirSync, writeFileSync } from "node:fs";
import type { ModelRow } from "./models.js";

export interface Row {
  kernel: string;
  size: string;
  backend: "cpu" | "webgpu";
  impl: string;
  gflops?: number;
  ms?: number;
  ratio_vs: Record<string, number>;
  unavailable?: string;
  /** A peer's configuration that gave this figure (PyTorch: the fastest of those tried, per row). */
  config?: string;
}

export const PEERS = ["jax-js", "tfjs", "pytorch"] as const;

const fmt = (x: number | undefined, digits = 1) => (x === undefined ? "" : x >= 100 ? x.toFixed(0) : x.toFixed(digits));
const figure = (r: Row | undefined) =>
  !r ? "" : r.unavailable ? "n/a" : r.gflops !== undefined ? `${fmt(r.gflops)} GF/s` : `${fmt(r.ms, 2)} ms`;

/** Rows grouped by (kernel, size, backend), ours first. */
function groups(rows: readonly Row[]): Row[][] {
  const map = new Map<string, Row[]>();
  for (const r of rows) {
    const k = `${r.backend}|${r.kernel}|${r.size}`;
    if (!map.has(k)) map.set(k, []);
    map.get(k)!.push(r);
  }
  return [...map.values()];
}

export function kernelTable(rows: readonly Row[]): string[][] {
  const head = ["kernel", "size", "backend", "anchorgrad", ...PEERS, ...PEERS.map((p) => `× vs ${p}`), "pytorch config"];
  const body = groups(rows).map((g) => {
    const ours = g.find((r) => r.impl === "anchorgrad");
    const peer = (p: string) => g.find((r) => r.impl === p);
    return [
      g[0]!.kernel,
      g[0]!.size,
      g[0]!.backend,
      figure(ours),
      ...PEERS.map((p) => figure(peer(p))),
      ...PEERS.map((p) => (ours?.ratio_vs[p] !== undefined ? `${ours.ratio_vs[p]!.toFixed(2)}×` : "")),
      peer("pytorch")?.config ?? "",
    ];
  });
  return [head, ...body];
}

/** anchorgrad's own whole-model figures (no peer). */
export function modelTable(rows: readonly ModelRow[]): string[][] {
  return [
    ["figure", "size", "result"],
    ...rows
      .filter((r) => !isVersusTorch(r))
      .map((r) => [
        r.kernel,
        r.size,
        r.unavailable
          ? `unavailable: ${r.unavailable}`
          : r.overhead !== undefined
            ? `valueAndGrad ${fmt(r.ms, 2)} ms / forward ${fmt(r.forwardMs, 2)} ms = ${r.overhead.toFixed(2)}×`
            : `${fmt(r.ms, 1)} ms/step = ${r.stepsPerS!.toFixed(2)} steps/s`,
      ]),
  ];
}

/** Rows timed against the whole-model PyTorch peer (models.ts, internvlVsTorch). */
export const isVersusTorch = (r: ModelRow) => r.torch !== undefined || r.torchUnavailable !== undefined;

/** Torch time / our time (above 1: anchorgrad is faster). */
export const torchRatio = (r: ModelRow) => (r.torch && r.ms !== undefined ? r.torch.ms / r.ms : undefined);

/** The whole model against PyTorch, side by side, with the configuration torch was fastest in and the loss check. */
export function versusTorchTable(rows: readonly ModelRow[]): string[][] {
  return [
    ["figure", "model pairs×tokens", "anchorgrad", "pytorch", "× vs pytorch", "pytorch config", "loss check"],
    ...rows
      .filter(isVersusTorch)
      .map((r) => [
        r.kernel,
        r.size,
        r.unavailable ? `n/a: ${r.unavailable}` : `${fmt(r.ms, 2)} ms`,
        r.torch ? `${fmt(r.torch.ms, 2)} ms` : `n/a: ${r.torchUnavailable}`,
        torchRatio(r) !== undefined ? `${torchRatio(r)!.toFixed(2)}×` : "",
        r.torch?.config ?? "",
        r.check ?? "",
      ]),
  ];
}

/**
 * Least-squares slope of log(ms) on log(size) over our rows of one kernel on
 * one backend: cost ∝ size^exponent.
 */
export function growthTable(rows: readonly Row[], kernel: string, sizeOf: (r: Row) => number, label: string): string[][] {
  const out: string[][] = [];
  for (const backend of ["cpu", "webgpu"] as const) {
    const pts = rows
      .filter((r) => r.kernel === kernel && r.backend === backend && r.impl === "anchorgrad" && r.ms !== undefined)
      .map((r) => [Math.log(sizeOf(r)), Math.log(r.ms!)] as const);
    if (pts.length < 2) continue;
    const mx = pts.reduce((s, p) => s + p[0], 0) / pts.length,
      my = pts.reduce((s, p) => s + p[1], 0) / pts.length;
    const slope = pts.reduce((s, p) => s + (p[0] - mx) * (p[1] - my), 0) / pts.reduce((s, p) => s + (p[0] - mx) ** 2, 0);
    const series = rows
      .filter((r) => r.kernel === kernel && r.backend === backend && r.impl === "anchorgrad" && r.ms !== undefined)
      .map((r) => `${label}=${sizeOf(r)}: ${fmt(r.ms, 2)} ms`)
      .join(", ");
    out.push([kernel, backend, series, slope.toFixed(2)]);
  }
  return out;
}

export interface Target {
  name: string;
  pass: boolean | null;
  detail: string;
}

export function render(table: string[][]): string {
  const widths = table[0]!.map((_, c) => Math.max(...table.map((r) => (r[c] ?? "").length)));
  return table.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join("  ")).join("\n");
}

function markdown(table: string[][]): string {
  const [head, ...body] = table;
  return [`| ${head!.join(" | ")} |`, `|${head!.map(() => "---").join("|")}|`, ...body.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

export function writeResults(
  dir: string,
  meta: Record<string, unknown>,
  rows: readonly Row[],
  models: readonly ModelRow[],
  growth: string[][],
  targets: readonly Target[],
): void {
  mkdirSync(dir, { recursive: true });
  const json = [
    ...rows.map((r) => ({ ...r })),
    ...models
      .filter((m) => !isVersusTorch(m))
      .map((m) => ({
        kernel: m.kernel,
        size: m.size,
        backend: "cpu",
        impl: "anchorgrad",
        ...(m.ms !== undefined && { ms: m.ms }),
        ...(m.overhead !== undefined && { overhead: m.overhead, forward_ms: m.forwardMs }),
        ...(m.stepsPerS !== undefined && { steps_per_s: m.stepsPerS }),
        ...(m.unavailable && { unavailable: m.unavailable }),
        ratio_vs: {},
      })),
    ...models.filter(isVersusTorch).flatMap((m) => [
      {
        kernel: m.kernel,
        size: m.size,
        backend: "cpu",
        impl: "anchorgrad",
        ...(m.ms !== undefined ? { ms: m.ms } : { unavailable: m.unavailable }),
        ratio_vs: torchRatio(m) !== undefined ? { pytorch: torchRatio(m) } : {},
        ...(m.check && { loss_check: m.check }),
      },
      {
        kernel: m.kernel,
        size: m.size,
        backend: "cpu",
        impl: "pytorch",
        ...(m.torch ? { ms: m.torch.ms, config: m.torch.config } : { unavailable: m.torchUnavailable }),
        ratio_vs: {},
      },
    ]),
  ];
  writeFileSync(`${dir}/latest.json`, JSON.stringify(json, null, 2) + "\n");
  const md = [
    "# anchorgrad benchmark",
    "",
    ...Object.entries(meta).map(([k, v]) => `- ${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`),
    "",
    "Figures are medians after warmup; × columns are peer time / anchorgrad time (above 1: anchorgrad is faster).",
    "",
    "## Kernels",
    "",
    markdown(kernelTable(rows)),
    "",
    "## Whole model",
    "",
    markdown(modelTable(models)),
    "",
    "## Whole model against PyTorch (bench/peers/internvl_torch.py, at its fastest configuration per row)",
    "",
    markdown(versusTorchTable(models)),
    "",
    "## Cost growth (fitted exponent of time against size)",
    "",
    markdown([["kernel", "backend", "series", "exponent"], ...growth]),
    "",
    "## Targets",
    "",
    ...targets.map((t) => `- ${t.pass === null ? "SKIP" : t.pass ? "PASS" : "FAIL"} ${t.name}: ${t.detail}`),
    "",
  ].join("\n");
  writeFileSync(`${dir}/latest.md`, md);
}

/**
 * Plots as SVG strings, rendered headless by vega-lite + vega (no canvas, no
 * network): a spec is compiled to vega, parsed, and drawn by a View with the
 * "none" renderer.
 */
import * as vega from "vega";
import * as vegaLite from "vega-lite";

export type Row = Record<string, string | number | null>;

/** Render any vega-lite spec to an SVG string. */
export async function renderSvg(spec: vegaLite.TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const base = { $schema: "https://vega.github.io/schema/vega-lite/v5.json", background: "white", config: { font: "sans-serif" } } as const;

/** A vertical rule at x = `at` with a label at its top: where one training phase hands over to the next. */
export interface PhaseMark {
  at: number;
  label: string;
}

/** The vega-lite name of a PhaseMark's rule; vega renders it as the class `${PHASE_RULE}_marks` on the rule's SVG group. */
export const PHASE_RULE = "phase_boundary";

/**
 * One line per series over steps, with a dashed zero rule, and optionally a
 * phase boundary. With a boundary the x scale leaves out zero and spans both
 * the data and the boundary (with a little room on each side), so a rule at
 * the very first or last step still sits inside the plot rather than on its axis.
 */
export function lineChart(opts: {
  title: string;
  rows: Row[];
  x: string;
  y: string;
  series: string;
  width?: number;
  height?: number;
  boundary?: PhaseMark;
}): vegaLite.TopLevelSpec {
  const b = opts.boundary;
  const xs = opts.rows.map((r) => r[opts.x]).filter((v): v is number => typeof v === "number");
  const lo = Math.min(...xs, b?.at ?? Infinity),
    hi = Math.max(...xs, b?.at ?? -Infinity);
  const pad = Math.max(1, Math.ceil((hi - lo) / 20));
  const xScale = b && { scale: { zero: false, nice: false, domain: [lo >= 0 ? Math.max(0, lo - pad) : lo - pad, hi + pad] } };
  return {
    ...base,
    title: opts.title,
    width: opts.width ?? 360,
    height: opts.height ?? 200,
    data: { values: opts.rows },
    layer: [
      {
        mark: { type: "line", strokeWidth: 2 },
        encoding: {
          x: { field: opts.x, type: "quantitative", title: opts.x, ...xScale },
          y: { field: opts.y, type: "quantitative", title: opts.y },
          color: { field: opts.series, type: "nominal", title: opts.series },
        },
      },
      { mark: { type: "rule", strokeDash: [4, 4], color: "#888" }, encoding: { y: { datum: 0 } } },
      ...(b
        ? [
            // their own one-row data: with the chart's rows they would draw one rule and one label per row
            {
              name: PHASE_RULE,
              data: { values: [{ at: b.at }] },
              mark: { type: "rule", color: "#c33", strokeWidth: 1.5 },
              encoding: { x: { field: "at", type: "quantitative" } },
            },
            {
              data: { values: [{ at: b.at, label: b.label }] },
              mark: { type: "text", align: "left", baseline: "top", dx: 4, dy: 2, color: "#c33", fontSize: 10 },
              encoding: { x: { field: "at", type: "quantitative" }, y: { value: 0 }, text: { field: "label" } },
            },
          ]
        : []),
    ],
  } as vegaLite.TopLevelSpec;
}

/** Grouped bars: one group per `group` value, one bar per `series`, value `y`. */
export function groupedBars(opts: {
  title: string;
  rows: Row[];
  group: string;
  series: string;
  y: string;
  yDomain?: [number, number];
  width?: number;
}): vegaLite.TopLevelSpec {
  return {
    ...base,
    title: opts.title,
    data: { values: opts.rows },
    width: opts.width ?? 360,
    height: 200,
    mark: "bar",
    encoding: {
      x: { field: opts.group, type: "nominal", title: opts.group, axis: { labelAngle: 0 } },
      xOffset: { field: opts.series, type: "nominal" },
      y: { field: opts.y, type: "quantitative", title: opts.y, ...(opts.yDomain && { scale: { domain: opts.yDomain } }) },
      color: { field: opts.series, type: "nominal", title: opts.series },
      tooltip: [{ field: opts.series }, { field: opts.group }, { field: opts.y, format: ".3f" }],
    },
  } as vegaLite.TopLevelSpec;
}

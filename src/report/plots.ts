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

/** One line per series over steps, with a dashed zero rule. */
export function lineChart(opts: {
  title: string;
  rows: Row[];
  x: string;
  y: string;
  series: string;
  width?: number;
  height?: number;
}): vegaLite.TopLevelSpec {
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
          x: { field: opts.x, type: "quantitative", title: opts.x },
          y: { field: opts.y, type: "quantitative", title: opts.y },
          color: { field: opts.series, type: "nominal", title: opts.series },
        },
      },
      { mark: { type: "rule", strokeDash: [4, 4], color: "#888" }, encoding: { y: { datum: 0 } } },
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

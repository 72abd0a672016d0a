/** Reports: plots (vega-lite -> SVG), the demo summary and its HTML page. */
export { groupedBars, lineChart, PHASE_RULE, renderSvg, type PhaseMark, type Row } from "./plots.js";
export { renderPlots, smooth, writeReport, type ReportInput } from "./report.js";
export { summaryCells, summaryTable, type DemoSummary, type ModelEval, type ObjectiveSummary } from "./summary.js";
export { formatTable } from "./table.js";

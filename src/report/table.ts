/** Plain-text tables for the terminal. */

/** Columns padded to their widest cell; numbers right-aligned. */
export function formatTable(header: string[], rows: (string | number)[][], digits = 3): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === "number" ? (Number.isFinite(c) ? c.toFixed(digits) : String(c)) : c)));
  const widths = header.map((h, j) => Math.max(h.length, ...cells.map((r) => r[j]!.length)));
  const line = (r: string[], numeric: boolean[]) =>
    r.map((c, j) => (numeric[j] ? c.padStart(widths[j]!) : c.padEnd(widths[j]!))).join("  ");
  const numeric = header.map((_, j) => rows.length > 0 && rows.every((r) => typeof r[j] === "number"));
  return [line(header, numeric), widths.map((w) => "-".repeat(w)).join("  "), ...cells.map((r) => line(r, numeric))].join("\n");
}

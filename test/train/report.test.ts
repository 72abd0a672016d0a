/** The report: SVG plots via vega-lite, an offline HTML page, the summary table. */
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatTable, smooth, summaryTable, writeReport } from "../../src/report/index.js";
import { history, summary } from "../report/fixture.js";

describe("report", () => {
  it("writes SVG plots and one offline HTML page that inlines them", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ag-report-"));
    const file = await writeReport(dir, {
      title: "demo",
      summary,
      histories: { dpo: history(2), acpo: history(0) },
      sftHistory: history(1),
      splits: ["random", "popular", "adversarial"],
      notes: ["a <note> & more"],
    });
    const svgs = readdirSync(dir)
      .filter((f) => f.endsWith(".svg"))
      .sort();
    expect(svgs).toEqual([
      "logps_chosen.svg",
      "loss.svg",
      "pope_accuracy.svg",
      "pope_f1.svg",
      "rewards_chosen.svg",
      "rewards_margins.svg",
      "rewards_rejected.svg",
      "sft_loss.svg",
      "visual_reliance.svg",
    ]);
    for (const s of svgs) expect(readFileSync(join(dir, s), "utf8")).toMatch(/^<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    // real plots: the line chart has one path per objective, labelled in the legend
    const chosen = readFileSync(join(dir, "rewards_chosen.svg"), "utf8");
    expect(chosen).toContain(">dpo<");
    expect(chosen).toContain(">acpo<");
    const page = readFileSync(file, "utf8");
    expect(page).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
    expect(page.match(/<svg/g)!.length).toBe(9);
    expect(page).toContain("a &lt;note&gt; &amp; more");
  });

  it("the summary table has one row per model", () => {
    const t = summaryTable(summary, ["random", "popular"]).split("\n");
    expect(t[0]).toMatch(
      /^model\s+rewards\/chosen\s+rewards\/rejected\s+rewards\/margins\s+logps\/chosen\s+random acc\s+random F1\s+popular acc/,
    );
    expect(t.slice(2).map((l) => l.split(/\s{2,}/)[0])).toEqual(["sft (reference)", "dpo", "acpo"]);
    expect(t[3]).toContain("-0.250");
  });

  it("formatTable right-aligns numeric columns; smooth is a centred moving average", () => {
    expect(
      formatTable(
        ["a", "n"],
        [
          ["x", 1],
          ["yy", 10.5],
        ],
        1,
      ),
    ).toBe("a      n\n--  ----\nx    1.0\nyy  10.5");
    expect(smooth([0, 3, 6, 9], 3)).toEqual([1.5, 3, 6, 7.5]);
  });
});

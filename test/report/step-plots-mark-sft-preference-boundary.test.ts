/**
 * Every per-step plot of the report marks where SFT ends and preference
 * training starts: one rule at the first preference step on a step axis
 * shared by SFT and preference training, labelled with that step, inside
 * the plot area. The loss plot also shows the end of SFT leading up to it.
 */
import { describe, expect, it } from "vitest";
import { PHASE_RULE, renderPlots } from "../../src/report/index.js";
import { reportInput } from "./fixture.js";

const STEP_PLOTS = ["rewards_chosen.svg", "rewards_rejected.svg", "rewards_margins.svg", "logps_chosen.svg", "loss.svg", "sft_loss.svg"];
const SFT_STEPS = 30;
const BOUNDARY = SFT_STEPS + 1;

/** The boundary rules of an SVG: the x of each vertical line in the named rule group, and the rule's data label. */
function boundaryRules(svg: string): { x: number; label: string; height: number }[] {
  const group = new RegExp(`<g class="mark-rule role-mark ${PHASE_RULE}_marks"[^>]*>(.*?)</g>`).exec(svg);
  if (!group) return [];
  return [...group[1]!.matchAll(/<line aria-label="([^"]*)"[^>]*transform="translate\(([-\d.]+),0\)" x2="0" y2="([\d.]+)"/g)].map((m) => ({
    label: m[1]!,
    x: Number(m[2]),
    height: Number(m[3]),
  }));
}

/** The plot width and the x-axis domain, from the axis's aria-label ("... with values from 28 to 44"). */
function xAxis(svg: string): { from: number; to: number } {
  const m = /aria-label="X-axis titled 'step' for a linear scale with values from ([-−\d.]+) to ([-−\d.]+)"/.exec(svg);
  if (!m) throw new Error("no linear step axis in the plot");
  const num = (s: string) => Number(s.replace("−", "-")); // vega writes a Unicode minus
  return { from: num(m[1]!), to: num(m[2]!) };
}

describe("the SFT -> preference boundary", () => {
  it("is one vertical rule at the first preference step, inside the plot, on every step plot", async () => {
    const svgs = await renderPlots(reportInput(SFT_STEPS));
    for (const name of STEP_PLOTS) {
      const svg = svgs[name]!;
      const rules = boundaryRules(svg);
      expect(rules, name).toHaveLength(1);
      const [rule] = rules;
      expect(rule!.label, name).toBe(`at: ${BOUNDARY}`);
      expect(svg, name).toContain(`>SFT | preference training from step ${BOUNDARY}<`);
      // the rule's x is where step BOUNDARY falls on the axis (360 px wide), strictly inside it
      const { from, to } = xAxis(svg);
      expect(from, name).toBeLessThan(BOUNDARY);
      expect(to, name).toBeGreaterThan(BOUNDARY);
      expect(rule!.x, name).toBeCloseTo((360 * (BOUNDARY - from)) / (to - from), 3);
      expect(rule!.height, name).toBe(200);
    }
  });

  it("puts preference steps after the SFT steps, and the loss plot shows SFT's last steps before the boundary", async () => {
    const svgs = await renderPlots(reportInput(SFT_STEPS));
    // 12 preference steps follow 30 SFT steps: the preference plots end at step 42
    expect(xAxis(svgs["rewards_chosen.svg"]!).to).toBeGreaterThanOrEqual(SFT_STEPS + 12);
    expect(xAxis(svgs["loss.svg"]!).from).toBeLessThanOrEqual(SFT_STEPS - 11);
    expect(svgs["loss.svg"]).toContain(">sft<");
    expect(svgs["loss.svg"]).toContain(">dpo<");
  });

  it("is absent when there was no SFT", async () => {
    const svgs = await renderPlots({ ...reportInput(SFT_STEPS), sftHistory: [] });
    for (const name of STEP_PLOTS) expect(boundaryRules(svgs[name]!), name).toHaveLength(0);
  });
});

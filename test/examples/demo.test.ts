/** `anchorgrad demo --quick`: the whole pipeline (data, SFT, DPO, ACPO, evaluation, report) on a few steps. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

describe("anchorgrad demo --quick", () => {
  it("writes summary.json with the documented fields, the plots and report.html, and prints the table", () => {
    const out = join(mkdtempSync(join(tmpdir(), "ag-demo-")), "demo");
    const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "demo", "--quick", "--out", out, "--no-progress"], {
      encoding: "utf8",
      cwd: join(import.meta.dirname, "../.."),
      timeout: 170_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const s = JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
    for (const name of ["dpo", "acpo"]) {
      const o = s.objectives[name];
      for (const k of ["rewards/chosen", "rewards/rejected", "rewards/margins", "logps/chosen"])
        expect(Number.isFinite(o.final[k]), `${name} ${k}`).toBe(true);
      for (const split of ["random", "popular", "adversarial"]) {
        expect(o.pope[split].accuracy).toBeGreaterThanOrEqual(0);
        expect(o.pope[split].f1).toBeLessThanOrEqual(1);
      }
      expect(Number.isFinite(o.visualReliance)).toBe(true);
    }
    expect(Number.isFinite(s.sft.visualReliance)).toBe(true);
    expect(s.settings.backend).toEqual({ name: "cpu" }); // the backend it ran on (and the adapter, on webgpu)
    expect(Object.keys(s.sft.pope).sort()).toEqual(["adversarial", "popular", "random"]);
    // margins are chosen minus rejected rewards, over the same pairs
    const d = s.objectives.dpo.final;
    expect(d["rewards/margins"]).toBeCloseTo(d["rewards/chosen"] - d["rewards/rejected"], 10);
    const files = readdirSync(out);
    for (const f of [
      "report.html",
      "rewards_chosen.svg",
      "rewards_rejected.svg",
      "rewards_margins.svg",
      "pope_f1.svg",
      "visual_reliance.svg",
    ])
      expect(files).toContain(f);
    expect(r.stdout).toMatch(/^model\s+rewards\/chosen/m);
    expect(r.stdout).toMatch(/^acpo\s+-?\d/m);
  });
});

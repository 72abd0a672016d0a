/**
 * `anchorgrad demo --backend webgpu --quick`: every stage (data, SFT, the
 * reference pass, DPO, ACPO, POPE, visual reliance, report) on the GPU, in
 * a child process as a user runs it. The numbers are the CPU's to 1e-3
 * (train-parity.test.ts checks training itself step by step); here the run
 * must finish, record its backend and adapter, and write the report.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { adapterInfo, describeWebGPU } from "./setup.js";

const root = mkdtempSync(join(tmpdir(), "ag-demo-webgpu-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describeWebGPU("anchorgrad demo --backend webgpu --quick", () => {
  it("finishes on the GPU and writes summary.json (backend and adapter recorded) and report.html", () => {
    const out = join(root, "demo");
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", "src/cli/main.ts", "demo", "--quick", "--backend", "webgpu", "--out", out, "--no-progress"],
      { encoding: "utf8", cwd: join(import.meta.dirname, "../.."), timeout: 240_000, env: { ...process.env, ANCHORGRAD_BACKEND: "" } },
    );
    expect(r.status, r.stderr).toBe(0);
    const s = JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
    expect(s.settings.backend.name).toBe("webgpu");
    expect(s.settings.backend.adapter).toBe(adapterInfo?.adapter);
    for (const name of ["dpo", "acpo"]) {
      const o = s.objectives[name];
      for (const k of ["rewards/chosen", "rewards/rejected", "rewards/margins", "logps/chosen"])
        expect(Number.isFinite(o.final[k]), `${name} ${k}`).toBe(true);
      expect(Number.isFinite(o.visualReliance), `${name} visual reliance`).toBe(true);
      for (const split of ["random", "popular", "adversarial"]) expect(o.pope[split].accuracy).toBeGreaterThanOrEqual(0);
    }
    // training on the GPU moved the policy away from the reference
    expect(Math.abs(s.objectives.dpo.final["rewards/margins"])).toBeGreaterThan(0);
    expect(readdirSync(out)).toContain("report.html");
    expect(r.stdout).toMatch(/^acpo\s+-?\d/m);
  }, 300_000);
});

/**
 * The examples run end to end on a few steps (as a user would run them, through tsx).
 * They import "anchorgrad" (the package's self-reference); node's
 * --conditions=anchorgrad-source resolves it to this checkout's src/ (see
 * package.json "exports"), so the test needs no build. Without the condition
 * it resolves to dist/, which `npm install` / `npm run build` write.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const run = (script: string, out: string, steps: number) =>
  spawnSync(process.execPath, ["--conditions=anchorgrad-source", "--import", "tsx", script, out, String(steps)], {
    encoding: "utf8",
    cwd: join(import.meta.dirname, "../.."),
    timeout: 120_000,
  });

describe("examples", () => {
  it("import the package by name, not by a path into src/", () => {
    for (const f of ["examples/train-acpo.ts", "examples/custom-objective.ts"]) {
      const src = readFileSync(join(import.meta.dirname, "../..", f), "utf8");
      expect(src).toMatch(/^import \* as ag from "anchorgrad";$/m);
      expect(src).not.toMatch(/from "\.\.\/src\//);
    }
  });

  it("train-acpo.ts trains with ACPO and logs acpo/alpha", () => {
    const out = mkdtempSync(join(tmpdir(), "ag-ex-acpo-"));
    const r = run("examples/train-acpo.ts", out, 3);
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^step 3: loss \d+\.\d+, margins -?\d+\.\d+, alpha \d\.\d{3}$/m);
    const rows = readFileSync(join(out, "run/metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(rows).toHaveLength(3);
    expect(rows[2]).toHaveProperty(["acpo/alpha"]);
    expect(existsSync(join(out, "run/checkpoint-3/model.safetensors"))).toBe(true);
  });

  it("custom-objective.ts checks its gradients, then trains with it", () => {
    const out = mkdtempSync(join(tmpdir(), "ag-ex-custom-"));
    const r = run("examples/custom-objective.ts", out, 3);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("gradient check passed");
    expect(r.stdout).toMatch(/^step 3: loss \d+\.\d+, margins -?\d+\.\d+, anchor penalty \d+\.\d+$/m);
  });
});

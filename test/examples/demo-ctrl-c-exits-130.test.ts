/**
 * Ctrl-C (SIGINT) in `anchorgrad demo` stops the running stage after its
 * step, saves its checkpoint, skips the later stages and exits 130 (what the
 * signal itself would give), not 1 with an error. The signal is sent once
 * the alignment stage has logged a step, so the trainer's handler is in place.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

describe("anchorgrad demo and Ctrl-C", () => {
  it("saves the stage's checkpoint and exits 130", { timeout: 150_000 }, async () => {
    const out = join(mkdtempSync(join(tmpdir(), "ag-demo-sigint-")), "demo");
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "src/cli/main.ts", "demo", "--quick", "--align-steps", "100000", "--out", out, "--no-progress"],
      { cwd: join(import.meta.dirname, "../.."), stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "",
      stderr = "";
    child.stdout.on("data", (b) => (stdout += b));
    child.stderr.on("data", (b) => (stderr += b));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on("exit", (code, signal) => resolve({ code, signal })),
    );
    const metrics = join(out, "align", "metrics.jsonl");
    const deadline = Date.now() + 120_000;
    while (!(existsSync(metrics) && readFileSync(metrics, "utf8").includes("\n"))) {
      if (child.exitCode !== null || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill("SIGINT");
    const { code, signal } = await exited;
    expect({ code, signal }, stderr).toEqual({ code: 130, signal: null });
    expect(stdout).toMatch(/demo: SIGINT during align at step \d+: checkpoint .*checkpoint-\d+; the later stages did not run/);
    expect(readdirSync(join(out, "align")).some((f) => /^checkpoint-\d+$/.test(f))).toBe(true);
    expect(existsSync(join(out, "summary.json"))).toBe(false);
    expect(stderr).not.toMatch(/Error/);
  });
});

/** OS errors (ENOSPC, EACCES, EROFS, ENOENT) print one line naming the path and the error; --verbose / ANCHORGRAD_DEBUG=1 add the stack. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { defineCommand } from "../../src/cli/command.js";
import { reportError } from "../../src/cli/errors.js";
import { runCli } from "../../src/cli/run.js";
import { AnchorError } from "../../src/tensor/errors.js";

/** An error shaped as Node's fs errors are. */
function osError(code: string, text: string, syscall: string, path: string): Error {
  return Object.assign(new Error(`${code}: ${text}, ${syscall} '${path}'`), { code, errno: -1, syscall, path });
}

afterEach(() => {
  delete process.env.ANCHORGRAD_DEBUG;
});

describe("reportError", () => {
  it.each([
    ["ENOSPC", "no space left on device", "write", "runs/x/metrics.jsonl"],
    ["EACCES", "permission denied", "open", "/ro/run/metrics.jsonl"],
    ["EROFS", "read-only file system", "mkdir", "/mnt/ro/run"],
    ["ENOENT", "no such file or directory", "open", "data/meta.json"],
  ])("%s: one line with the path and the code, exit 1", (code, text, syscall, path) => {
    const r = reportError("train", osError(code, text, syscall, path), { verbose: false });
    expect(r.text).toBe(`anchorgrad train: ${path}: ${text} (${code}, ${syscall})`);
    expect(r.exitCode).toBe(1);
  });

  it("finds an OS error in the cause chain of one of ours", () => {
    const e = new AnchorError("saving checkpoint-3 failed", { cause: osError("ENOSPC", "no space left on device", "write", "/r/c") });
    expect(reportError("train", e, { verbose: false }).text).toBe(
      "anchorgrad train: saving checkpoint-3 failed [/r/c: no space left on device (ENOSPC, write)]",
    );
  });

  it("adds the stack with verbose, and always for an unexpected error", () => {
    const e = osError("EACCES", "permission denied", "open", "/x");
    expect(reportError("train", e, { verbose: true }).text.split("\n").length).toBeGreaterThan(2);
    expect(reportError("train", new TypeError("x is undefined"), { verbose: false }).text).toMatch(/a bug.*\n.*TypeError/s);
  });
});

describe("runCli", () => {
  const failing = defineCommand({
    name: "train",
    summary: "fails with EACCES",
    flags: [],
    action: async () => {
      throw osError("EACCES", "permission denied", "open", "/ro/run/metrics.jsonl");
    },
  });

  it("prints the one line; ANCHORGRAD_DEBUG=1 or --verbose prints the stack", async () => {
    const err = vi.spyOn(console, "error").mockImplementation(() => {});
    expect(await runCli(["train"], [failing])).toBe(1);
    expect(err.mock.calls[0]![0]).toBe("anchorgrad train: /ro/run/metrics.jsonl: permission denied (EACCES, open)");
    await runCli(["train", "--verbose"], [failing]);
    expect(err.mock.calls[1]![0]).toMatch(/\n\s+at /);
    process.env.ANCHORGRAD_DEBUG = "1";
    await runCli(["train"], [failing]);
    expect(err.mock.calls[2]![0]).toMatch(/\n\s+at /);
    err.mockRestore();
  });
});

describe("the anchorgrad process", () => {
  it("an OS error from a real command is one line on stderr and exit 1; ANCHORGRAD_DEBUG=1 adds the stack", () => {
    const file = join(mkdtempSync(join(tmpdir(), "ag-os-")), "a-file");
    writeFileSync(file, "");
    const run = (env: NodeJS.ProcessEnv) =>
      spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "init-model", "--out", join(file, "model")], {
        cwd: join(import.meta.dirname, "../.."),
        encoding: "utf8",
        env: { ...process.env, ...env },
        timeout: 60_000,
      });
    const r = run({ ANCHORGRAD_DEBUG: "" });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`anchorgrad init-model: ${join(file, "model")}: not a directory (ENOTDIR, mkdir)\n`);
    expect(run({ ANCHORGRAD_DEBUG: "1" }).stderr).toMatch(/\(ENOTDIR, mkdir\)\nError: ENOTDIR.*\n\s+at /);
  });
});

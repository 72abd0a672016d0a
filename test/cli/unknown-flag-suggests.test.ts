/** An unknown flag (or command) is an error with a suggestion; bad values name the flag and the range. */
import { describe, expect, it, vi } from "vitest";
import { UsageError } from "../../src/cli/args.js";
import { defineCommand } from "../../src/cli/command.js";
import { runCli } from "../../src/cli/run.js";

const seen: Record<string, unknown>[] = [];
const cmd = defineCommand({
  name: "train",
  summary: "fake train",
  flags: [
    { name: "steps", type: "integer", description: "steps" },
    { name: "skip-bad", type: "boolean", description: "skip" },
    { name: "no-progress", type: "boolean", description: "no bar" },
  ],
  action: async (v) => void seen.push({ ...v }),
});

describe("flag parsing", () => {
  it("suggests the closest flag for a typo", async () => {
    await expect(cmd.run(["--step", "3"])).rejects.toThrow(new UsageError("unknown option '--step' (did you mean --steps?)"));
  });

  it("checks numeric values and names the flag", async () => {
    await expect(cmd.run(["--steps", "0"])).rejects.toThrow(/--steps <integer>.*'0' is invalid.*must be a positive integer/);
    await expect(cmd.run(["--steps", "x"])).rejects.toThrow(UsageError);
  });

  it("passes values by flag name, negated flags as true when given", async () => {
    seen.length = 0;
    await cmd.run(["--steps", "3", "--skip-bad", "--no-progress"]);
    expect(seen[0]).toMatchObject({ steps: 3, "skip-bad": true, "no-progress": true, verbose: undefined });
    await cmd.run([]);
    expect(seen[1]).toMatchObject({ steps: undefined, "no-progress": false });
  });

  it("exits 2 with the suggestion on stderr, and suggests commands too", async () => {
    const err = vi.spyOn(console, "error").mockImplementation(() => {});
    expect(await runCli(["train", "--stepz", "1"], [cmd])).toBe(2);
    expect(err.mock.calls[0]![0]).toMatch(/^anchorgrad train: unknown option '--stepz' \(did you mean --steps\?\)/);
    expect(await runCli(["trian"], [cmd])).toBe(2);
    expect(err.mock.calls[1]![0]).toMatch(/^anchorgrad: unknown command "trian" \(did you mean "train"\?\)/);
    err.mockRestore();
  });
});

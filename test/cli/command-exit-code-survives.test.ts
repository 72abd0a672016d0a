/** A command's own exit code (train: 130 after Ctrl-C) survives main; main sets only a failure's code. */
import { afterEach, describe, expect, it, vi } from "vitest";
import { defineCommand } from "../../src/cli/command.js";
import { main } from "../../src/cli/run.js";

const interrupted = defineCommand({
  name: "train",
  summary: "sets 130 as the real train command does after Ctrl-C",
  flags: [],
  action: async () => {
    process.exitCode = 130;
  },
});

afterEach(() => {
  process.exitCode = undefined;
});

describe("main", () => {
  it("keeps the exit code a command set", async () => {
    await main(["train"], [interrupted]);
    expect(process.exitCode).toBe(130);
  });

  it("sets the code of a failure", async () => {
    const err = vi.spyOn(console, "error").mockImplementation(() => {});
    await main(["train", "--bogus"], [interrupted]);
    expect(process.exitCode).toBe(2);
    err.mockRestore();
  });
});

/** `--help` on every command lists every flag with its type, its default and one line of meaning. */
import { describe, expect, it, vi } from "vitest";
import { defineCommand, COMMON_FLAGS } from "../../src/cli/command.js";
import { programHelp } from "../../src/cli/run.js";

const cmd = defineCommand({
  name: "fake",
  summary: "a command for the test",
  flags: [
    { name: "config", type: "path", required: true, description: "the run's config" },
    { name: "steps", type: "integer", defaultText: "one epoch", description: "optimizer steps" },
    { name: "lr", type: "number", default: 0.001, description: "learning rate" },
    { name: "layout", type: ["original", "hf"], default: "original", description: "tensor names" },
    { name: "no-progress", type: "boolean", description: "no progress bar" },
  ],
  action: async () => {},
});

describe("--help", () => {
  it("lists each flag with type, default and meaning", () => {
    const help = cmd.help().replace(/\n {10,}/g, " "); // join lines commander wrapped at the terminal's width
    const line = (flag: string) => help.split("\n").find((l) => l.trimStart().startsWith(flag)) ?? "";
    expect(line("--config <path>")).toMatch(/the run's config \(path; required\)/);
    expect(line("--steps <integer>")).toMatch(/optimizer steps \(integer, positive integer; default: one epoch\)/);
    expect(line("--lr <number>")).toMatch(/learning rate \(number, positive number; default: 0\.001\)/);
    expect(line("--layout <original|hf>")).toMatch(/tensor names \(original\|hf; default: original\)/);
    expect(line("--no-progress")).toMatch(/no progress bar \(boolean; default: off\)/);
    for (const f of COMMON_FLAGS) expect(help).toContain(`--${f.name}`);
  });

  it("is what run(['--help']) prints, without running the action", async () => {
    const action = vi.fn(async () => {});
    const c = defineCommand({ ...cmd, action });
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    await c.run(["--help"]);
    expect(log).toHaveBeenCalledWith(c.help());
    expect(action).not.toHaveBeenCalled();
    log.mockRestore();
  });

  it("of the program lists the commands", () => {
    expect(programHelp([cmd])).toMatch(/^ {2}fake {2}a command for the test$/m);
  });
});

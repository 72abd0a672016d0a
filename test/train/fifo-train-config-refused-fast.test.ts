/**
 * A FIFO given as the train config (or as init-model's word list) is refused
 * at once with one line naming it, instead of blocking the trainer forever in
 * open(). Run as a real `anchorgrad` process: a synchronous open of a FIFO
 * would block the test worker itself, so only a child can fail this safely.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "anchorgrad-fifo-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fifo(name: string): string {
  const path = join(dir, name);
  execFileSync("mkfifo", [path]);
  return path;
}

/** `anchorgrad ...args` from the sources, killed after 30 s (a hang fails instead of stalling the suite). */
function anchorgrad(...args: string[]) {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], { encoding: "utf8", timeout: 30_000 });
  return { ...r, seconds: (Date.now() - t0) / 1000 };
}

describe("a FIFO as a user's input file is refused fast", () => {
  it("as the train config: exit 1, one line naming the file and what it is", { timeout: 40_000 }, () => {
    const config = fifo("run.json");
    const r = anchorgrad("train", "--config", config);
    expect(r.signal, "the trainer hung on the FIFO and was killed").toBeNull();
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(
      `anchorgrad train: ${config}: cannot read the config: is a FIFO (named pipe), not a regular file; refused without opening it (reading it could block forever or never end)`,
    );
  });

  it("as init-model's --words file", { timeout: 40_000 }, () => {
    const words = fifo("words.txt");
    const r = anchorgrad("init-model", "--out", join(dir, "model"), "--words", words);
    expect(r.signal, "init-model hung on the FIFO and was killed").toBeNull();
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`--words ${words}: is a FIFO (named pipe), not a regular file`);
  });
});

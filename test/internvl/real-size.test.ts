/**
 * A checkpoint with InternVL3-1B's real names and shapes (bf16, 1.9 GB,
 * constant values: no weights can be downloaded here) loads in float32
 * within the 6 GB peak-RSS budget. Heavy (a minute, 2 GB of disk): runs
 * with ANCHORGRAD_FULL=1.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { tempDir } from "./helpers.js";

const FIXTURE = fileURLToPath(new URL("./fixtures/real-size.ts", import.meta.url));

function child(mode: string, dir: string): string {
  const r = spawnSync(process.execPath, ["--import", "tsx", FIXTURE, mode, dir], { encoding: "utf8", timeout: 900_000 });
  if (r.status !== 0) throw new Error(`real-size ${mode} failed (${r.status}):\n${r.stderr}`);
  return r.stdout;
}

describe.runIf(process.env.ANCHORGRAD_FULL === "1")("a real-size InternVL3-1B checkpoint", () => {
  it("loads in float32 with peak RSS at most 6 GB and runs the decoder", () => {
    const dir = tempDir("real-size");
    child("write", dir);
    const stats = JSON.parse(child("load", dir)) as {
      maxRssBytes: number;
      paramBytes: number;
      embedFirst: number;
      logitsShape: number[];
      logitsFinite: boolean;
    };
    expect(stats.paramBytes).toBe(938_193_024 * 4);
    expect(stats.embedFirst).toBe(0.015625);
    expect(stats.logitsShape).toEqual([1, 8, 151674]);
    expect(stats.logitsFinite).toBe(true);
    expect(stats.maxRssBytes).toBeLessThanOrEqual(6 * 2 ** 30);
  }, 1_200_000);
});

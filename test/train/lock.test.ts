/** The run lock and the resume comparison, in-process (the process-level behaviour is in runs.test.ts). */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { removeStaleTemps } from "../../src/train/checkpoint.js";
import { LOCK_FILE, lockRun, RunLockedError } from "../../src/train/lock.js";
import { configDifferences, checkResume, ResumeMismatchError } from "../../src/train/resume.js";

const dir = () => mkdtempSync(join(tmpdir(), "ag-lock-"));
const holder = (pid: number, host = hostname()) => JSON.stringify({ pid, host, started: "2026-01-01T00:00:00.000Z", token: "feedface" });
/** The pid of a process that has exited, so certainly not alive now (pids are not reused this fast). */
const deadPid = () => spawnSync(process.execPath, ["-e", "console.log(process.pid)"], { encoding: "utf8" }).stdout.trim();

describe("the run lock", () => {
  it("is exclusive, names its holder, and is gone after release", async () => {
    const d = dir();
    const lock = await lockRun(d);
    expect(JSON.parse(readFileSync(join(d, LOCK_FILE), "utf8"))).toMatchObject({ pid: process.pid, host: hostname() });
    await expect(lockRun(d)).rejects.toThrow(/this process already trains there/);
    await lock.release();
    expect(existsSync(join(d, LOCK_FILE))).toBe(false);
    await (await lockRun(d)).release();
  });

  it("refuses a live holder with its pid", async () => {
    const d = dir();
    writeFileSync(join(d, LOCK_FILE), holder(process.ppid));
    const err = await lockRun(d).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunLockedError);
    expect((err as Error).message).toContain(`pid ${process.ppid} on ${hostname()}`);
  });

  it("takes over a stale lock from a dead process, once, when several race for it", async () => {
    const d = dir();
    writeFileSync(join(d, LOCK_FILE), holder(Number(deadPid())));
    const tries = await Promise.allSettled([lockRun(d), lockRun(d), lockRun(d)]);
    expect(tries.filter((t) => t.status === "fulfilled")).toHaveLength(1);
    expect(JSON.parse(readFileSync(join(d, LOCK_FILE), "utf8")).pid).toBe(process.pid);
    for (const t of tries) if (t.status === "fulfilled") await t.value.release();
  });

  it("refuses a holder on another host (it cannot be checked) and a file that is not a lock", async () => {
    const d = dir();
    writeFileSync(join(d, LOCK_FILE), holder(1, "elsewhere"));
    await expect(lockRun(d)).rejects.toThrow(/pid 1 on elsewhere.*another host.*remove \.anchorgrad\.lock/);
    writeFileSync(join(d, LOCK_FILE), "garbage");
    await expect(lockRun(d)).rejects.toThrow(/not a valid anchorgrad lock file/);
  });
});

describe("stale checkpoint temporaries", () => {
  it("are removed; complete checkpoints and other files stay", async () => {
    const d = dir();
    for (const n of [".checkpoint-3.tmp-123", "checkpoint-2", "notes.tmp"]) mkdirSync(join(d, n));
    expect(await removeStaleTemps(d)).toEqual([".checkpoint-3.tmp-123"]);
    expect(existsSync(join(d, "checkpoint-2")) && existsSync(join(d, "notes.tmp"))).toBe(true);
  });
});

describe("the resume comparison", () => {
  it("lists changed, added and removed keys by path, whatever the config's shape", () => {
    const saved = { objective: { name: "dpo", beta: 0.1 }, optimizer: { lr: { type: "cosine", peak: 1e-5 }, freeze: ["vision"] }, seed: 0 };
    const now = {
      objective: { name: "acpo", beta: 0.1 },
      optimizer: { lr: { type: "cosine", peak: 2e-5 }, freeze: ["vision", "mlp1"] },
      extra: 1,
    };
    expect(configDifferences(saved, now)).toEqual([
      "extra: (unset) → 1",
      'objective.name: "dpo" → "acpo"',
      'optimizer.freeze: ["vision"] → ["vision","mlp1"]',
      "optimizer.lr.peak: 0.00001 → 0.00002",
      "seed: 0 → (unset)",
    ]);
  });

  it("ignores where and how often the run writes, and compares what a checkpoint stores (JSON)", () => {
    expect(configDifferences({ out: "/a", saveEvery: 5, lr: 1 }, { out: "/b", saveEvery: 10, lr: 1, dropped: undefined })).toEqual([]);
  });

  it("names the checkpoint and --force, and counts the data set's contents", () => {
    const data = { rows: 8, sha256: "a".repeat(64) };
    const err = (() => {
      try {
        checkResume("runs/x/checkpoint-4", { config: { lr: 1 }, data }, { config: { lr: 2 }, data: { rows: 7, sha256: "b".repeat(64) } });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(ResumeMismatchError);
    expect(err!.message).toMatch(/runs\/x\/checkpoint-4 .*lr: 1 → 2; data set contents: 8 rows .* → 7 rows .*--force/);
    expect(() => checkResume("c", { config: { lr: 1 }, data }, { config: { lr: 1 }, data })).not.toThrow();
  });
});

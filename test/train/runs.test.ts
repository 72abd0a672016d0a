/**
 * Runs a cluster user can trust, with real `anchorgrad train` processes:
 * signals save and exit with 128 + n, SIGKILL loses at most the step in
 * flight, the output folder is locked, stale locks and temporaries are
 * cleared, and --resume refuses another configuration unless --force.
 * Each kill lands after a seeded random step; the seed is in the test name.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openSafetensors } from "../../src/io/safetensors.js";
import { readTrainerState } from "../../src/train/checkpoint.js";
import { metricRows, makeFixture, pauseAfterStep, runFiles, runTrainer, seeded, startTrainer, type Fixture } from "./trainer-process.js";

const SEED = 20261204;
let fx: Fixture;
/** The losses of the uninterrupted 10-step run every interrupted one must reproduce. */
let reference: number[];

beforeAll(async () => {
  fx = await makeFixture();
  const r = await runTrainer(["--config", fx.config("reference")]);
  expect(r.code, r.stderr).toBe(0);
  reference = metricRows(join(fx.root, "runs/reference")).map((m) => m.loss!);
  expect(reference).toHaveLength(10);
}, 120_000);
afterAll(() => fx?.cleanup());

/** Every checkpoint folder is whole: its state names its step and both tensor files read back completely. */
async function expectIntactCheckpoints(out: string): Promise<number[]> {
  const { checkpoints } = runFiles(out);
  for (const step of checkpoints) {
    const dir = join(out, `checkpoint-${step}`);
    expect((await readTrainerState(dir)).step).toBe(step);
    for (const f of ["model.safetensors", "optimizer.safetensors"]) {
      const st = await openSafetensors(join(dir, f));
      try {
        expect(st.names.length).toBeGreaterThan(0);
        for (const n of st.names) (await st.read(n)).dispose();
      } finally {
        await st.close();
      }
    }
  }
  return checkpoints;
}

describe("signals", () => {
  const cases = [
    { sig: "SIGINT", code: 130 },
    { sig: "SIGTERM", code: 143 },
    { sig: "SIGKILL", code: null },
  ] as const;
  it.each(cases.map((c, i) => ({ ...c, seed: SEED + i })))(
    "$sig after a random step (seed $seed): checkpoints intact, exit code, resumed losses equal the uninterrupted run's",
    async ({ sig, code, seed }) => {
      const at = seeded(seed)(1, 6);
      const config = fx.config(`sig-${sig}`);
      const out = join(fx.root, `runs/sig-${sig}`);
      const t = startTrainer(["--config", config]);
      await pauseAfterStep(t, out, at);
      t.child.kill(sig);
      t.child.kill("SIGCONT");
      const r = await t.exit;
      const files = runFiles(out);
      const checkpoints = await expectIntactCheckpoints(out);
      if (code !== null) {
        expect({ code: r.code, signal: r.signal }, r.stderr).toEqual({ code, signal: null });
        const stopped = Number(/interrupted at step (\d+)/.exec(r.stdout)?.[1]);
        expect(stopped).toBeGreaterThanOrEqual(at);
        expect(stopped).toBeLessThan(10);
        expect(checkpoints.at(-1)).toBe(stopped);
        expect(metricRows(out)).toHaveLength(stopped);
        expect(files).toMatchObject({ temps: [], lock: false });
      } else {
        expect(r.signal).toBe("SIGKILL");
        expect(files.lock).toBe(true); // left behind by the dead process, taken over below
        mkdirSync(join(out, ".checkpoint-99.tmp-4242"));
        writeFileSync(join(out, ".checkpoint-99.tmp-4242", "model.safetensors"), "half a file");
      }
      const resumed = await runTrainer(["--config", config, "--resume"]);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(metricRows(out).map((m) => m.loss)).toEqual(reference);
      expect(runFiles(out)).toMatchObject({ temps: [], lock: false });
      await expectIntactCheckpoints(out);
    },
    240_000,
  );
});

describe("the output folder lock", () => {
  it("refuses a second trainer on the same folder, naming the holder's pid; the holder runs on", async () => {
    const config = fx.config("locked", { steps: 40 });
    const out = join(fx.root, "runs/locked");
    const first = startTrainer(["--config", config]);
    await pauseAfterStep(first, out, 1);
    const second = await runTrainer(["--config", config, "--resume"]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`is in use by another trainer \\(pid ${first.child.pid} on `));
    expect(second.stderr.trim().split("\n")).toHaveLength(1);
    first.child.kill("SIGCONT");
    first.child.kill("SIGTERM");
    const r = await first.exit;
    expect(r.code, r.stderr).toBe(143);
    expect(runFiles(out).lock).toBe(false);
  }, 240_000);
});

describe("--resume with another configuration", () => {
  it("is refused with every changed key listed, the data set's contents included, and proceeds with --force", async () => {
    const data = join(fx.root, "data/pairs-copy.jsonl");
    const original = readFileSync(join(fx.root, "data/pairs.jsonl"), "utf8");
    writeFileSync(data, original);
    const base = { steps: 2, data: "data/pairs-copy.jsonl", out: "runs/changed" };
    const out = join(fx.root, "runs/changed");
    expect((await runTrainer(["--config", fx.config("changed", base)])).code).toBe(0);
    const before = readFileSync(join(out, "metrics.jsonl"), "utf8");

    const changed = fx.config("changed-more", {
      ...base,
      steps: 3,
      objective: { name: "dpo", beta: 0.2 },
      optimizer: { name: "adamw", lr: 0.002 },
    });
    const refused = await runTrainer(["--config", changed, "--resume"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("objective.beta: 0.1 → 0.2");
    expect(refused.stderr).toContain("optimizer.lr: 0.001 → 0.002");
    expect(refused.stderr).toContain("steps: 2 → 3");
    expect(refused.stderr).toContain("--force");

    // the same config over edited data: the path is the same, the rows are not
    writeFileSync(data, original.replace(/"chosen": ?"[^"]*"/, '"chosen": "A red circle."'));
    const edited = await runTrainer(["--config", fx.config("changed-data", base), "--resume"]);
    expect(edited.code).toBe(1);
    expect(edited.stderr).toMatch(/data set contents: 8 rows \(sha256 \w+\) → 8 rows \(sha256 \w+\)/);
    expect(readFileSync(join(out, "metrics.jsonl"), "utf8")).toBe(before);

    const forced = await runTrainer(["--config", changed, "--resume", "--force"]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(metricRows(out).map((m) => m.step)).toEqual([1, 2, 3]);
  }, 240_000);
});

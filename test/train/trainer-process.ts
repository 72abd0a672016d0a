/**
 * Real `anchorgrad train` child processes for the run tests: a tiny model and
 * a few shapes pairs in a temporary folder, a config writer, and a way to
 * stop a trainer right after a chosen step.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateShapes } from "../../src/data/index.js";
import { createModel } from "../../src/models/internvl/checkpoint.js";

const ROOT = join(import.meta.dirname, "../..");

export interface Fixture {
  root: string;
  /** Write `<root>/<name>.json`: the base config with `patch` over it; returns its path. */
  config(name: string, patch?: Record<string, unknown>): string;
  cleanup(): void;
}

/** 8 preference pairs of 16-pixel images and the tiny InternVL preset with their words. */
export async function makeFixture(): Promise<Fixture> {
  const root = mkdtempSync(join(tmpdir(), "ag-runs-"));
  const manifest = await generateShapes({ out: join(root, "data"), seed: 5, sftImages: 2, pairImages: 8, evalImages: 1, imageSize: 16 });
  await createModel(join(root, "model"), { preset: "tiny", layout: "original", seed: 0, words: manifest.words });
  const base = {
    model: "model",
    data: `data/${manifest.pairsMeta}`,
    objective: { name: "dpo", beta: 0.1 },
    optimizer: { name: "adamw", lr: 0.001 },
    steps: 10,
    batchSize: 2,
    seed: 3,
    saveEvery: 1,
  };
  return {
    root,
    config(name, patch = {}) {
      const file = join(root, `${name}.json`);
      writeFileSync(file, JSON.stringify({ ...base, out: `runs/${name}`, ...patch }));
      return file;
    },
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Trainer {
  child: ChildProcess;
  exit: Promise<Exit>;
}

/** Start `anchorgrad train <args>` from the source tree (as test/examples/demo.test.ts runs the CLI). */
export function startTrainer(args: readonly string[]): Trainer {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "train", "--no-progress", ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "",
    stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const exit = new Promise<Exit>((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, exit };
}

export const runTrainer = (args: readonly string[]): Promise<Exit> => startTrainer(args).exit;

/** Complete rows in a run's metrics.jsonl (none before it exists; a line still being appended is not one). */
export function metricRows(out: string): Array<Record<string, number>> {
  let text = "";
  try {
    text = readFileSync(join(out, "metrics.jsonl"), "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .slice(0, -1)
    .map((l) => JSON.parse(l));
}

/**
 * Freeze the trainer (SIGSTOP) as soon as it has logged `step` rows, so that
 * what the test does next lands between that step and the end of the run.
 */
export async function pauseAfterStep(t: Trainer, out: string, step: number, timeoutMs = 120_000): Promise<void> {
  const t0 = Date.now();
  while (metricRows(out).length < step) {
    if (t.child.exitCode !== null) throw new Error(`the trainer exited (${t.child.exitCode}) before step ${step}`);
    if (Date.now() - t0 > timeoutMs) throw new Error(`no step ${step} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
  t.child.kill("SIGSTOP");
}

/** Checkpoint folders and leftover temporaries under a run folder. */
export function runFiles(out: string): { checkpoints: number[]; temps: string[]; lock: boolean } {
  const names = readdirSync(out);
  return {
    checkpoints: names
      .map((n) => /^checkpoint-(\d+)$/.exec(n)?.[1])
      .filter((s): s is string => s !== undefined)
      .map(Number)
      .sort((a, b) => a - b),
    temps: names.filter((n) => n.includes(".tmp")),
    lock: names.includes(".anchorgrad.lock"),
  };
}

/** A seeded generator of small integers, so a failing kill step can be replayed. */
export function seeded(seed: number): (lo: number, hi: number) => number {
  let s = seed >>> 0;
  return (lo, hi) => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return lo + (s % (hi - lo + 1));
  };
}

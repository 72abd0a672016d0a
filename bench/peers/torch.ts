/**
 * PyTorch through /usr/bin/python3: one python process times every case in
 * its own loop (torch_bench.py), with as many threads as we use. OpenBLAS
 * runs with this machine's OPENBLAS_CORETYPE as set (see the env notes).
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Case } from "../cases.js";

export const PYTHON = process.env.ANCHORGRAD_PYTHON ?? "/usr/bin/python3";

export interface TorchRun {
  /** Median ms per case index, or why it failed. */
  readonly results: Map<number, { ms: number } | { error: string }>;
  readonly version?: string;
  /** Set when torch could not run at all. */
  readonly unavailable?: string;
}

export function runTorch(cases: readonly Case[], plan: (c: Case) => { iterations: number; warmup: number }, threads: number): TorchRun {
  const script = fileURLToPath(new URL("./torch_bench.py", import.meta.url));
  const job = { threads, cases: cases.map((c, id) => ({ id: String(id), spec: c.spec, ...plan(c) })) };
  const r = spawnSync(PYTHON, [script], { input: JSON.stringify(job), encoding: "utf8", maxBuffer: 1 << 24, timeout: 600_000 });
  if (r.error) return { results: new Map(), unavailable: `${PYTHON}: ${r.error.message}` };
  if (r.status !== 0) {
    const why = /ModuleNotFoundError: No module named 'torch'/.test(r.stderr)
      ? "torch is not installed (npm run setup:oracle)"
      : (r.stderr.trim().split("\n").pop() ?? `exit ${r.status}`);
    return { results: new Map(), unavailable: why };
  }
  const out = JSON.parse(r.stdout) as { torch: string; results: Record<string, { ms: number } | { error: string }> };
  return { results: new Map(Object.entries(out.results).map(([k, v]) => [Number(k), v])), version: out.torch };
}

/**
 * The PyTorch oracle: run a Python script under test/oracle/ once with a
 * batch of cases as JSON on stdin, and read its JSON answer from stdout.
 * Tensors cross as { shape, data } with float64 data (JSON round-trips
 * doubles exactly). Without torch the oracle suites skip with a notice,
 * except under CI=true, where a missing torch fails the run.
 */
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, it } from "vitest";
import * as ag from "../../src/index.js";

export const PYTHON = process.env.ANCHORGRAD_PYTHON ?? "/usr/bin/python3";
const ORACLE_DIR = fileURLToPath(new URL("../oracle/", import.meta.url));

export interface Wire {
  shape: number[];
  data: number[];
}

export const toWire = (t: ag.Tensor): Wire => ({ shape: [...t.shape], data: Array.from(t.dataSync()) });
export const fromWire = (w: Wire, dtype: ag.DType = "float64"): ag.Tensor => ag.tensor(w.data, { shape: w.shape, dtype });

let status: { ok: boolean; reason: string } | undefined;
export function torchStatus(): { ok: boolean; reason: string } {
  if (!status) {
    const r = spawnSync(PYTHON, ["-c", "import torch; print(torch.__version__)"], { encoding: "utf8" });
    status =
      r.status === 0
        ? { ok: true, reason: `torch ${r.stdout.trim()}` }
        : {
            ok: false,
            reason: `no PyTorch at ${PYTHON} (${(r.stderr || String(r.error)).trim().split("\n").pop()}); install it with: sudo bash scripts/setup-oracle.sh`,
          };
  }
  return status;
}

/** describe() for oracle suites: skips visibly without torch, fails under CI. */
export function describeOracle(name: string, body: () => void): void {
  const s = torchStatus();
  if (s.ok) {
    describe(name, body);
    return;
  }
  if (process.env.CI === "true") {
    describe(name, () =>
      it("has PyTorch available (required under CI=true)", () => {
        throw new Error(s.reason);
      }),
    );
    return;
  }
  console.warn(`[oracle] skipping "${name}": ${s.reason}`);
  describe.skip(name, body);
}

/** Run test/oracle/<script> with `payload` as JSON; resolve to its JSON output. */
export function runOracle<T = any>(script: string, payload: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const p = spawn(PYTHON, [ORACLE_DIR + script], { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, OMP_NUM_THREADS: "1" } });
    let out = "",
      err = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (err += d));
    p.on("error", reject);
    p.on("close", (code) => {
      if (code !== 0) return reject(new Error(`oracle ${script} exited ${code}:\n${err}`));
      try {
        resolve(JSON.parse(out) as T);
      } catch (e) {
        reject(new Error(`oracle ${script} printed invalid JSON: ${String(e)}\n${out.slice(0, 500)}`));
      }
    });
    p.stdin.end(JSON.stringify(payload));
  });
}

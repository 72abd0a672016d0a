/**
 * python/anchorgrad_trl.py's loss path, on torch, without TRL (which cannot
 * be installed here): random logits, labels and completion masks stand in
 * for concatenated_forward's output ([2B, T, V], chosen then rejected).
 * completion_sums must equal a token-by-token loop, and exported_loss on
 * those sums must equal the TypeScript objective on the same sums (1e-9).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { describeOracle, PYTHON } from "../helpers/torch.js";
import { closeTo } from "../objectives/cases.js";

const dir = mkdtempSync(join(tmpdir(), "ag-trl-shim-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const SHIM = fileURLToPath(new URL("../../python/", import.meta.url));

const SCRIPT = `
import json, sys, torch
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from anchorgrad_trl import completion_sums, exported_loss, split_pairs
from loss import loss as fn
g = torch.Generator().manual_seed(0)
B, T, V = 3, 7, 11
logits = torch.randn(2 * B, T, V, generator=g, dtype=torch.float64)
labels = torch.randint(0, V, (2 * B, T), generator=g)
mask = torch.zeros(2 * B, T, dtype=torch.long)
for i, (start, n) in enumerate([(2, 3), (1, 6), (4, 1), (2, 4), (0, 7), (3, 2)]):
    mask[i, start:start + n] = 1
logps, lengths = completion_sums(logits, labels, mask)
loop = [sum(torch.log_softmax(logits[i, t], -1)[labels[i, t]].item() for t in range(T) if mask[i, t]) for i in range(2 * B)]
c, r, lc, lr = split_pairs(logps, lengths)
ref = torch.tensor([-9.0, -12.5, -3.0], dtype=torch.float64), torch.tensor([-8.0, -14.0, -2.5], dtype=torch.float64)
loss, metrics = exported_loss(fn, c, r, ref[0], ref[1], lc, lr)
print(json.dumps({"logps": logps.tolist(), "loop": loop, "lengths": lengths.tolist(), "loss": float(loss), "metrics": metrics}))
`;

describeOracle("python/anchorgrad_trl.py loss path", () => {
  it("sums over the completion mask, counts lengths, and calls the exported objective", () => {
    const objective = ag.objectives.acpo({ target: "pair" });
    writeFileSync(join(dir, "loss.py"), ag.exportTorch(objective, { name: "loss" }));
    writeFileSync(join(dir, "run.py"), SCRIPT);
    const p = spawnSync(PYTHON, [join(dir, "run.py"), SHIM, dir], { encoding: "utf8" });
    expect(p.status, p.stderr).toBe(0);
    const got = JSON.parse(p.stdout) as {
      logps: number[];
      loop: number[];
      lengths: number[];
      loss: number;
      metrics: Record<string, number>;
    };
    expect(got.lengths).toEqual([3, 6, 1, 4, 7, 2]);
    expect(closeTo(got.logps, got.loop, 1e-12)).toBeNull();
    const t = (xs: number[]) => ag.tensor(xs, { dtype: "float64" });
    const want = objective({
      policyChosenLogps: t(got.logps.slice(0, 3)),
      policyRejectedLogps: t(got.logps.slice(3)),
      refChosenLogps: t([-9, -12.5, -3]),
      refRejectedLogps: t([-8, -14, -2.5]),
      chosenLengths: t(got.lengths.slice(0, 3)),
      rejectedLengths: t(got.lengths.slice(3)),
    });
    expect(closeTo(got.loss, want.loss.item(), 1e-9)).toBeNull();
    for (const [k, v] of Object.entries(want.metrics)) expect(closeTo(got.metrics[k]!, v.item(), 1e-9, 1e-12), k).toBeNull();
  });
});

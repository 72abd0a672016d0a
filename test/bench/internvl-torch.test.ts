/**
 * The bench's whole-model PyTorch peer (bench/peers/internvl_torch.py) is
 * only worth timing if it computes what anchorgrad computes: on the tiny
 * preset saved in the "-hf" layout, its first 3 DPO steps (losses and the
 * policy's log-prob sums of every sequence) must agree with anchorgrad's to
 * 1e-4 relative, the same check bench/models.ts applies before any torch time
 * counts. The parameters are jittered first (as the forward oracle does), so
 * that layer scales, biases and norms are not at their trivial initial
 * values. Seen when written: a peer without the vision layer scale, with the
 * pixel shuffle's second permute left out, or with RoPE rotating the other
 * way fails by 3e-2 to 7e-2; a tanh GELU in place of the exact one stays
 * within 1e-4 (too close to tell apart here). A correctness check, not a
 * timing.
 */
import { beforeAll, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import {
  anchorgradDpo,
  CHECK_RTOL,
  CHECK_STEPS,
  compareTraces,
  dpoCase,
  presetModel,
  torchJobCase,
  type DpoTrace,
  type TorchCaseResult,
} from "../../bench/models.js";
import { runPython, torchConfigs } from "../../bench/peers/torch.js";
import { describeOracle } from "../helpers/torch.js";
import { jitter, tempDir } from "../internvl/helpers.js";

describeOracle("whole-model PyTorch peer (InternVL -hf, DPO)", () => {
  let ours: DpoTrace;
  let theirs: TorchCaseResult;

  beforeAll(async () => {
    const dir = tempDir("torch-peer");
    const made = await presetModel(dir, "tiny");
    await ag.models.internvl.save(dir, made.config, jitter(made.params, 7, 0.15));
    const c = dpoCase("tiny 2×32", dir, await ag.models.internvl.load(dir), 2, 32);
    ours = anchorgradDpo(c).trace(CHECK_STEPS);
    const job = { cases: [torchJobCase("0", c, { iterations: 0, warmup: 0, budgetMs: 0, time: false })] };
    const r = runPython<{ results: Record<string, TorchCaseResult | { error: string }> }>("internvl_torch.py", job, torchConfigs(1)[0]!);
    if (r.unavailable !== undefined) throw new Error(`internvl_torch.py: ${r.unavailable}`);
    const out = r.out.results["0"]!;
    if ("error" in out) throw new Error(`internvl_torch.py: ${out.error}`);
    theirs = out;
  }, 300_000);

  it(`agrees with anchorgrad for ${CHECK_STEPS} steps to ${CHECK_RTOL} relative`, () => {
    expect(theirs.losses).toHaveLength(CHECK_STEPS);
    const check = compareTraces(ours, theirs);
    expect(check.ok, check.detail).toBe(true);
  });

  it("checks something: the loss moves off log 2 and the sums are the model's, not zeros", () => {
    // step 1 is log 2 on any model (policy = reference); the later steps and the sums tie the two forwards together
    expect(ours.losses[0]).toBeCloseTo(Math.LN2, 6);
    expect(Math.abs(ours.losses[CHECK_STEPS - 1]! - Math.LN2)).toBeGreaterThan(1e-3);
    for (const s of [...ours.chosen.flat(), ...ours.rejected.flat()]) expect(s).toBeLessThan(-1);
  });

  it("rejects a trace that is off by more than the tolerance", () => {
    const off = {
      ...theirs,
      chosen: theirs.chosen.map((row, i) => (i === 1 ? row.map((x, j) => (j === 0 ? x * (1 + 10 * CHECK_RTOL) : x)) : row)),
    };
    const check = compareTraces(ours, off);
    expect(check.ok).toBe(false);
    expect(check.detail).toMatch(/step 2 chosen logps\[0\]/);
  });
});

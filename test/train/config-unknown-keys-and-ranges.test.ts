/** The train config refuses unknown keys anywhere (naming the closest valid key) and out-of-range values. */
import { describe, expect, it } from "vitest";
import { formatIssues, trainConfigSchema } from "../../src/train/config-schema.js";

const ok = { model: "m", data: "d.jsonl", objective: { name: "dpo" }, optimizer: { name: "adamw", lr: 1e-3 } };
const errorOf = (c: unknown): string => {
  const r = trainConfigSchema.safeParse(c);
  return r.success ? "accepted" : formatIssues(r.error);
};

describe("train config schema", () => {
  it("fills the documented defaults", () => {
    expect(trainConfigSchema.parse(ok)).toMatchObject({
      kind: "preference",
      batchSize: 8,
      gradientAccumulationSteps: 1,
      seed: 0,
      maxGradNorm: 1,
      keepCheckpoints: 2,
      skipBad: false,
    });
  });

  it.each([
    [{ ...ok, batchSzie: 4 }, /unknown key "batchSzie" \(did you mean "batchSize"\?\)/],
    [{ ...ok, optimizer: { lr: 1e-3, weight_decayy: 0.1 } }, /^optimizer: unknown key "weight_decayy" \(did you mean "weightDecay"\?\)/],
    [
      { ...ok, optimizer: { lr: { type: "cosine", peak: 1e-3, warmup_ratioo: 0.1 } } },
      /^optimizer\.lr: unknown key "warmup_ratioo" \(did you mean "warmupRatio"\?\)/,
    ],
  ])("names the closest key for a typo: %j", (cfg, msg) => {
    expect(errorOf(cfg)).toMatch(msg);
  });

  it.each([
    [{ lr: -1 }, /optimizer\.lr: Too small: expected number to be >0/],
    [{ lr: 0 }, /optimizer\.lr/],
    [{ lr: 1e-3, beta1: 1 }, /optimizer\.beta1: Too big: expected number to be <1/],
    [{ lr: 1e-3, beta2: -0.1 }, /optimizer\.beta2: Too small/],
    [{ lr: 1e-3, weightDecay: -0.01 }, /optimizer\.weightDecay: Too small/],
    [{ lr: { type: "cosine", peak: 1e-3, warmupRatio: 1.5 } }, /optimizer\.lr\.warmupRatio: Too big/],
    [{ lr: { type: "cosine", peak: 1e-3, warmupRatio: 0.1, warmupSteps: 3 } }, /warmupSteps or warmupRatio, not both/],
    [{ name: "sgd", lr: 1e-3, beta1: 0.5 }, /optimizer\.beta1: "beta1" does not apply to sgd/],
  ])("range-checks optimizer %j", (optimizer, msg) => {
    expect(errorOf({ ...ok, optimizer })).toMatch(msg);
  });

  it.each([
    [{ batchSize: 0 }, /batchSize: Too small/],
    [{ gradientAccumulationSteps: 1.5 }, /gradientAccumulationSteps: Invalid input: expected int/],
    [{ maxGradNorm: 0 }, /maxGradNorm/],
    [{ keepCheckpoints: 0 }, /keepCheckpoints: Too small/],
    [{ kind: "rlhf" }, /kind: Invalid option/],
  ])("range-checks %j", (patch, msg) => {
    expect(errorOf({ ...ok, ...patch })).toMatch(msg);
  });
});

/**
 * The `weights` option of the built-in objectives: batch.columns[weights]
 * multiplies each pair's loss before the mean, mean_i(w_i·ℓ_i), with
 * gradients to match; a missing, misshapen or negative column is refused
 * naming the objective and the column.
 */
import { describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import * as objectives from "../../src/objectives/index.js";
import type { PreferenceBatch } from "../../src/objectives/index.js";

const f64 = (xs: number[]) => ag.tensor(xs, { dtype: "float64" });
const batch = (weight?: number[]): PreferenceBatch => ({
  policyChosenLogps: f64([-3, -5, -2]),
  policyRejectedLogps: f64([-4, -4, -6]),
  refChosenLogps: f64([-3.5, -4.5, -2.5]),
  refRejectedLogps: f64([-3, -5, -5]),
  chosenLengths: ag.tensor([3, 4, 2], { dtype: "int32" }),
  rejectedLengths: ag.tensor([4, 4, 5], { dtype: "int32" }),
  ...(weight && { columns: { weight: f64(weight) } }),
});
/** Pair i alone, as a batch of one. */
const pair = (b: PreferenceBatch, i: number): PreferenceBatch =>
  Object.fromEntries(
    Object.entries(b)
      .filter(([k]) => k !== "columns")
      .map(([k, t]) => [k, ag.slice(t as ag.Tensor, [i], [i + 1])]),
  ) as unknown as PreferenceBatch;

describe("the weights option", () => {
  it.each(["dpo", "ipo", "simpo", "sft"] as const)("%s: the loss is mean(w_i * loss_i)", (name) => {
    const w = [0.5, 0, 2];
    const plain = objectives[name]();
    const perPair = [0, 1, 2].map((i) => plain(pair(batch(), i)).loss.item());
    const expected = (w[0]! * perPair[0]! + w[1]! * perPair[1]! + w[2]! * perPair[2]!) / 3;
    expect(objectives[name]({ weights: "weight" })(batch(w)).loss.item()).toBeCloseTo(expected, 12);
  });

  it("all-one weights give the unweighted loss; metrics are unweighted", () => {
    const a = objectives.dpo({ beta: 0.2 })(batch());
    const b = objectives.dpo({ beta: 0.2, weights: "weight" })(batch([1, 1, 1]));
    expect(b.loss.item()).toBeCloseTo(a.loss.item(), 14);
    expect(b.metrics["rewards/margins"]!.item()).toBe(a.metrics["rewards/margins"]!.item());
  });

  it("acpo (whose per-pair losses depend on the batch) scales with uniform weights", () => {
    const plain = objectives.acpo()(batch()).loss.item();
    expect(
      objectives
        .acpo({ weights: "weight" })(batch([2, 2, 2]))
        .loss.item(),
    ).toBeCloseTo(2 * plain, 12);
  });

  it("a zero weight zeroes that pair's gradient", () => {
    const dpo = objectives.dpo({ weights: "weight" });
    const g = ag.grad((s: ag.Tensor) => dpo({ ...batch([1, 0, 1]), policyChosenLogps: s }).loss)(batch().policyChosenLogps);
    const v = g.dataSync();
    expect(Math.abs(v[1]!)).toBe(0);
    expect(v[0]).not.toBe(0);
  });

  it("mpo weights all three terms", () => {
    const a = objectives.mpo({ weights: "weight" })(batch([0, 0, 0]));
    expect(a.loss.item()).toBe(0);
  });

  it("refuses a missing, misshapen or negative column, and a non-string option", () => {
    const dpo = objectives.dpo({ weights: "weight" });
    expect(() => dpo(batch())).toThrow(/dpo: weights "weight": batch\.columns\.weight is missing \(the batch has no columns\)/);
    expect(() => dpo({ ...batch(), columns: { w: f64([1, 1, 1]) } })).toThrow(
      /batch\.columns\.weight is missing \(the batch has columns w\)/,
    );
    expect(() => dpo(batch([1, 1]))).toThrow(/dpo: batch\.columns\.weight must be \[3\] \(one entry per pair\), got shape \[2\]/);
    expect(() => dpo(batch([1, -1, 1]))).toThrow(/dpo: batch\.columns\.weight\[1\] = -1; per-pair weights must be finite and >= 0/);
    expect(() => objectives.dpo({ weights: 1 as unknown as string })).toThrow(/dpo: option weights must name a batch column/);
  });
});

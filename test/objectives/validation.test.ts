/** Bad input gets an error naming the field and the value; options, metrics and combinators behave as documented. */
import { describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { CASES, f64, lossOf, toBatch, type RawBatch } from "./cases.js";

const O = ag.objectives;
const RAW: RawBatch = {
  policyChosenLogps: [-10, -20, -5],
  policyRejectedLogps: [-12, -18, -9],
  refChosenLogps: [-11, -19, -6],
  refRejectedLogps: [-11, -19, -7],
  chosenLengths: [4, 8, 2],
  rejectedLengths: [5, 7, 3],
  policyChosenLogpsNoImage: [-13, -22, -7],
  refChosenLogpsNoImage: [-12, -21, -7],
};
const batch = () => toBatch(RAW);

describe("bad batches", () => {
  it("a missing field names the field, for every objective", () => {
    for (const c of CASES) {
      const { policyRejectedLogps: _dropped, ...rest } = batch();
      expect(() => c.make()(rest as ag.objectives.PreferenceBatch), c.label).toThrow(/batch\.policyRejectedLogps is missing/);
    }
  });

  it("a missing reference says how to go without one; reference-free objectives do not need it", () => {
    const { refChosenLogps: _r, ...noRef } = batch();
    expect(() => O.dpo()(noRef)).toThrow(/dpo: batch\.refChosenLogps is missing .*referenceFree: true/);
    for (const o of [O.dpo({ referenceFree: true }), O.simpo(), O.cpo(), O.orpo(), O.sft(), O.acpo({ referenceFree: true })])
      expect(() => o(noRef)).not.toThrow();
    expect(() => O.mdpo()({ ...batch(), policyChosenLogpsNoImage: undefined })).toThrow(/mdpo: batch\.policyChosenLogpsNoImage is missing/);
  });

  it("mismatched batch sizes name both fields and sizes", () => {
    expect(() => O.dpo()({ ...batch(), refRejectedLogps: f64([-1, -2]) })).toThrow(
      /dpo: batch sizes differ: policyChosenLogps has 3 pairs but refRejectedLogps has 2/,
    );
    expect(() => O.acpo()({ ...batch(), rejectedLengths: f64([1, 2, 3, 4]) })).toThrow(/rejectedLengths has 4/);
  });

  it("wrong shapes, dtypes and an empty batch are named", () => {
    expect(() => O.dpo()({ ...batch(), policyChosenLogps: ag.zeros([3, 1], { dtype: "float64" }) })).toThrow(
      /batch\.policyChosenLogps must be 1-D \[B\].*\[3, 1\]/,
    );
    expect(() => O.dpo()({ ...batch(), policyChosenLogps: ag.tensor([1, 2, 3], { dtype: "int32" }) })).toThrow(
      /policyChosenLogps must be a float tensor.*int32/,
    );
    expect(() => O.dpo()({ ...batch(), chosenLengths: [1, 2, 3] as unknown as ag.Tensor })).toThrow(
      /batch\.chosenLengths must be a Tensor/,
    );
    const empty = Object.fromEntries(Object.keys(RAW).map((k) => [k, f64([])])) as unknown as ag.objectives.PreferenceBatch;
    expect(() => O.dpo()(empty)).toThrow(/empty \(0 pairs\)/);
  });

  it("a non-positive length is rejected with its index and value, by every objective (never a NaN loss)", () => {
    for (const c of CASES) {
      expect(() => c.make()({ ...batch(), chosenLengths: f64([4, 0, 2]) }), c.label).toThrow(
        /batch\.chosenLengths\[1\] = 0; completion lengths must be positive/,
      );
      expect(() => c.make()({ ...batch(), rejectedLengths: ag.tensor([5, -3, 3], { dtype: "int32" }) }), c.label).toThrow(
        /rejectedLengths\[1\] = -3/,
      );
    }
  });

  it("lengths of any numeric dtype give the same loss", () => {
    const asInt = {
      ...batch(),
      chosenLengths: ag.tensor(RAW.chosenLengths, { dtype: "int32" }),
      rejectedLengths: ag.tensor(RAW.rejectedLengths, { dtype: "float32" }),
    };
    expect(O.ipo()(asInt).loss.item()).toBe(O.ipo()(batch()).loss.item());
  });
});

describe("bad options", () => {
  const factories = O as unknown as Record<string, (o?: object) => unknown>;

  it("β ≤ 0 is rejected by every objective with a β", () => {
    for (const name of [
      "dpo",
      "robust",
      "hinge",
      "ipo",
      "exoPair",
      "ncaPair",
      "bcoPair",
      "sppoHard",
      "apoZero",
      "apoDown",
      "discopop",
      "dpop",
      "simpo",
      "cpo",
      "mdpo",
      "acpo",
    ]) {
      expect(() => factories[name]!({ beta: 0 }), name).toThrow(new RegExp(`${name}: beta must be > 0, got 0`));
      expect(() => factories[name]!({ beta: -0.1 }), name).toThrow(/got -0\.1/);
    }
    expect(() => O.mpo({ beta: -1 })).toThrow(/beta must be > 0, got -1/);
  });

  it("label smoothing out of range names the range and the value", () => {
    expect(() => O.dpo({ labelSmoothing: 0.7 })).toThrow("dpo: labelSmoothing must be in [0, 0.5], got 0.7");
    expect(() => O.dpo({ labelSmoothing: -0.1 })).toThrow(/got -0\.1/);
    expect(() => O.robust({ labelSmoothing: 0.5 })).toThrow("robust: labelSmoothing must be in [0, 0.5), got 0.5");
    expect(() => O.exoPair({ labelSmoothing: 0 })).toThrow("exoPair: labelSmoothing must be in (0, 0.5], got 0");
    expect(() => O.cpo({ labelSmoothing: 1 })).toThrow(/cpo: labelSmoothing/);
    expect(() => O.simpo({ labelSmoothing: 0.6 })).toThrow(/simpo: labelSmoothing/);
  });

  it("unknown names, wrong types and non-finite values are rejected", () => {
    expect(() => O.dpo({ betta: 0.1 } as never)).toThrow(
      /dpo: unknown option "betta"; dpo takes beta, lengthNormalize, referenceFree, labelSmoothing/,
    );
    expect(() => O.dpo({ beta: "0.1" } as never)).toThrow(/option beta must be a finite number, got "0.1"/);
    expect(() => O.dpo({ beta: NaN })).toThrow(/beta must be a finite number, got null/);
    expect(() => O.dpo({ lengthNormalize: 1 } as never)).toThrow(/lengthNormalize must be a boolean/);
    expect(() => O.sft({ referenceFree: true } as never)).toThrow(/sft: unknown option "referenceFree"/);
  });

  it("ACPO's own options are checked", () => {
    expect(() => O.acpo({ target: "sequence" as never })).toThrow(`acpo: target must be one of "batch", "pair", got "sequence"`);
    expect(() => O.acpo({ clip: [0.5, 0.2] })).toThrow("acpo: clip[1] must be in [0.5, 1], got 0.2");
    expect(() => O.acpo({ clip: [-0.1, 1] })).toThrow(/clip\[0\] must be in \[0, 1\], got -0\.1/);
    expect(() => O.acpo({ clip: [0, 1, 2] as never })).toThrow(/clip must be an array of 2 finite numbers/);
    expect(() => O.acpo({ delta: -1 })).toThrow("acpo: delta must be >= 0, got -1");
    expect(() => O.acpoCoefficients(batch(), { beta: 0 })).toThrow(/acpo: beta must be > 0/);
  });

  it("other ranges: tau > 0, lambda >= 0", () => {
    expect(() => O.discopop({ tau: 0 })).toThrow("discopop: tau must be > 0, got 0");
    expect(() => O.dpop({ lambda: -1 })).toThrow("dpop: lambda must be >= 0, got -1");
    expect(() => O.orpo({ lambda: -1 })).toThrow("orpo: lambda must be >= 0, got -1");
  });
});

describe("defaults (TRL's and the papers')", () => {
  it("match OBJECTIVES.md", () => {
    const same = (a: ag.objectives.Objective, b: ag.objectives.Objective) => expect(lossOf(a, RAW)).toBe(lossOf(b, RAW));
    same(O.dpo(), O.dpo({ beta: 0.1, labelSmoothing: 0, lengthNormalize: false, referenceFree: false }));
    same(O.exoPair(), O.exoPair({ labelSmoothing: 1e-3 }));
    same(O.discopop(), O.discopop({ tau: 0.05 }));
    same(O.dpop(), O.dpop({ lambda: 50 }));
    same(O.simpo(), O.simpo({ beta: 2, gamma: 0.5, lengthNormalize: true }));
    same(O.orpo(), O.orpo({ lambda: 0.1 }));
    same(O.ipo(), O.ipo({ lengthNormalize: true }));
    same(O.sft(), O.sft({ lengthNormalize: true }));
    same(O.acpo(), O.acpo({ beta: 0.1, delta: 0.01, target: "batch", clip: [0, 1], symmetric: false }));
  });
});

describe("metrics", () => {
  it("use TRL's names, hold β·r, and are detached", () => {
    const { metrics } = O.dpo({ beta: 0.2 })(batch());
    const r = (i: number) => 0.2 * (RAW.policyChosenLogps[i]! - RAW.refChosenLogps[i]!);
    const q = (i: number) => 0.2 * (RAW.policyRejectedLogps[i]! - RAW.refRejectedLogps[i]!);
    const mean = (f: (i: number) => number) => (f(0) + f(1) + f(2)) / 3;
    expect(metrics["rewards/chosen"]!.item()).toBeCloseTo(mean(r), 14);
    expect(metrics["rewards/rejected"]!.item()).toBeCloseTo(mean(q), 14);
    expect(metrics["rewards/margins"]!.item()).toBeCloseTo(
      mean((i) => r(i) - q(i)),
      14,
    );
    expect(metrics["rewards/accuracies"]!.item()).toBeCloseTo(
      mean((i) => +(r(i) > q(i))),
      14,
    );
    expect(metrics["logps/chosen"]!.item()).toBeCloseTo(
      mean((i) => RAW.policyChosenLogps[i]!),
      12,
    );
    expect(metrics["logps/rejected"]!.item()).toBeCloseTo(
      mean((i) => RAW.policyRejectedLogps[i]!),
      12,
    );
  });

  it("never join a tape: grad of a metric-derived value is zero", () => {
    const g = ag.grad((s: ag.Tensor) => {
      const { loss, metrics } = O.acpo()({ ...batch(), policyChosenLogps: s });
      return ag.add(ag.mul(loss, 0), ag.sum(ag.stack(Object.values(metrics))));
    })(f64(RAW.policyChosenLogps));
    expect(Array.from(g.dataSync()).every((v) => v === 0)).toBe(true);
  });
});

describe("weighted", () => {
  it("sums weighted losses, namespaces metrics, names repeats and custom objectives", () => {
    const myLoss: ag.objectives.Objective = (b) => ({
      loss: ag.mean(ag.neg(b.policyChosenLogps)),
      metrics: { custom: ag.full([], 1, { dtype: "float64" }) },
    });
    const w = O.weighted([
      [O.dpo(), 0.5],
      [O.dpo({ beta: 0.3 }), 2],
      [myLoss, 1],
      [O.sft(), 1, "anchor"],
    ]);
    const { loss, metrics } = w(batch());
    const expected = 0.5 * lossOf(O.dpo(), RAW) + 2 * lossOf(O.dpo({ beta: 0.3 }), RAW) + 35 / 3 + lossOf(O.sft(), RAW);
    expect(loss.item()).toBeCloseTo(expected, 12);
    expect(Object.keys(metrics)).toEqual(
      expect.arrayContaining([
        "dpo/loss",
        "dpo/rewards/chosen",
        "dpo#2/loss",
        "dpo#2/rewards/margins",
        "myLoss/custom",
        "anchor/loss",
        "anchor/logps/chosen",
      ]),
    );
    expect(metrics["dpo#2/loss"]!.item()).toBeCloseTo(lossOf(O.dpo({ beta: 0.3 }), RAW), 14);
  });

  it("is the MPO recipe in one line", () => {
    const mpo = O.weighted([
      [O.dpo({ beta: 0.1 }), 0.8],
      [O.bcoPair({ beta: 0.1 }), 0.2],
      [O.sft(), 1],
    ]);
    expect(lossOf(O.mpo(), RAW)).toBe(lossOf(mpo, RAW));
  });

  it("rejects bad terms", () => {
    expect(() => O.weighted([])).toThrow(/non-empty array/);
    expect(() => O.weighted([[O.dpo(), NaN]])).toThrow(/weight of term 0 must be a finite number, got NaN/);
    expect(() => O.weighted([["dpo" as never, 1]])).toThrow(/term 0 is not an objective/);
    const vector: ag.objectives.Objective = (b) => ({ loss: b.policyChosenLogps, metrics: {} });
    expect(() => O.weighted([[vector, 1]])(batch())).toThrow(
      /term "vector" must return \{ loss: scalar Tensor, metrics \}, got loss \[3\]/,
    );
  });
});

describe("float32 batches", () => {
  it("work and agree with float64 to float32 precision", () => {
    const f32 = Object.fromEntries(
      Object.entries(batch()).map(([k, v]) => [k, ag.cast(v as ag.Tensor, "float32")]),
    ) as unknown as ag.objectives.PreferenceBatch;
    for (const c of CASES) {
      const r = c.make()(f32);
      expect(r.loss.dtype, c.label).toBe("float32");
      expect(r.loss.item()).toBeCloseTo(lossOf(c.make(), RAW), 4);
    }
  });
});

/**
 * Properties every objective must have (finite everywhere, invariant under
 * reordering the pairs, decomposable over sub-batches), and the DPO family's
 * (a function of the log-ratios only; ℓ(z) − ℓ(−z) = −z).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import {
  batchSize,
  CASES,
  closeTo,
  concatBatches,
  LOGP_FIELDS,
  lossAndGrads,
  lossOf,
  pickPairs,
  rawBatchArb,
  runs,
  swapped,
  toBatch,
  type RawBatch,
} from "./cases.js";

/** A batch with a random permutation of its pairs. */
const permutedArb = rawBatchArb({ maxAbs: 1e3, minSize: 2 }).chain((raw) =>
  fc
    .shuffledSubarray([...Array(batchSize(raw)).keys()], { minLength: batchSize(raw), maxLength: batchSize(raw) })
    .map((perm) => ({ raw, perm })),
);

describe("every objective", () => {
  for (const c of CASES) {
    describe(c.label, () => {
      it("has a finite loss, gradient and metrics for any log-probs in [−1e4, 0]", () => {
        fc.assert(
          fc.property(rawBatchArb({ maxAbs: 1e4, maxLength: 4096 }), (raw) => {
            const { loss, grads } = lossAndGrads(c.make(), raw);
            expect(Number.isFinite(loss), `loss ${loss}`).toBe(true);
            for (const f of LOGP_FIELDS) expect(grads[f].every(Number.isFinite), `∂/∂${f}: ${grads[f]}`).toBe(true);
            ag.scope(() => {
              for (const [k, v] of Object.entries(c.make()(toBatch(raw)).metrics))
                expect(Number.isFinite(v.item()), `metric ${k}`).toBe(true);
            });
          }),
          runs(25),
        );
      });

      it("is invariant under permuting the pairs", () => {
        fc.assert(
          fc.property(permutedArb, ({ raw, perm }) => {
            expect(closeTo(lossOf(c.make(), pickPairs(raw, perm)), lossOf(c.make(), raw), 1e-12, 1e-12)).toBeNull();
          }),
          runs(20),
        );
      });

      if (c.decomposable) {
        it("gives a concatenated batch the size-weighted mean of its parts' losses", () => {
          fc.assert(
            fc.property(rawBatchArb({ maxAbs: 1e3 }), rawBatchArb({ maxAbs: 1e3 }), (a, b) => {
              const [na, nb] = [batchSize(a), batchSize(b)];
              const parts = (na * lossOf(c.make(), a) + nb * lossOf(c.make(), b)) / (na + nb);
              expect(closeTo(lossOf(c.make(), concatBatches(a, b)), parts, 1e-11, 1e-12)).toBeNull();
            }),
            runs(20),
          );
        });
      }

      if (c.ratioOnly) {
        it("depends on S and Ŝ only through S − Ŝ (shifting both by the same constant changes nothing)", () => {
          // Dyadic log-probs and integer shifts keep S − Ŝ exact: some variants (symmetric ACPO, clip
          // bounds below 1) jump where α switches, so a rounding error in r could move the loss by O(1).
          const shift = fc.array(fc.integer({ min: -500, max: 500 }), { minLength: 6, maxLength: 6 });
          fc.assert(
            fc.property(rawBatchArb({ maxAbs: 100, grid: 1 / 8 }), shift, (raw, [a, b, d, e, f, g]) => {
              const moved: RawBatch = {
                ...raw,
                policyChosenLogps: raw.policyChosenLogps.map((v) => v + a!),
                refChosenLogps: raw.refChosenLogps.map((v) => v + a!),
                policyRejectedLogps: raw.policyRejectedLogps.map((v) => v + b!),
                refRejectedLogps: raw.refRejectedLogps.map((v) => v + b!),
                policyChosenLogpsNoImage: raw.policyChosenLogpsNoImage.map((v, i) => v + (i % 2 ? d! : e!)),
                refChosenLogpsNoImage: raw.refChosenLogpsNoImage.map((v, i) => v + (i % 2 ? d! : e!)),
              };
              // per-pair shifts too: the constant may differ between pairs
              moved.policyChosenLogps = moved.policyChosenLogps.map((v, i) => v + i * f!);
              moved.refChosenLogps = moved.refChosenLogps.map((v, i) => v + i * f!);
              moved.policyRejectedLogps = moved.policyRejectedLogps.map((v, i) => v - i * g!);
              moved.refRejectedLogps = moved.refRejectedLogps.map((v, i) => v - i * g!);
              expect(closeTo(lossOf(c.make(), moved), lossOf(c.make(), raw), 1e-9, 1e-10)).toBeNull();
            }),
            runs(20),
          );
        });
      }
    });
  }
});

describe("the DPO family's logistic ℓ(z) = −log σ(z)", () => {
  it("satisfies ℓ(z) − ℓ(−z) = −z for |z| up to 1e4", () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1e4, max: 1e4, noNaN: true }), { minLength: 1, maxLength: 16 }), (zs) => {
        ag.scope(() => {
          const z = ag.tensor(Float64Array.from(zs));
          const diff = ag.sub(ag.objectives.logistic(z), ag.objectives.logistic(ag.neg(z)));
          expect(
            closeTo(
              Array.from(diff.dataSync()),
              zs.map((v) => -v),
              1e-15,
              1e-15,
            ),
          ).toBeNull();
        });
      }),
      runs(40),
    );
  });

  // Swapping chosen and rejected maps z = βΔ to −z; the objectives built on ℓ inherit its antisymmetry.
  const antisymmetric: [string, Record<string, number>, (beta: number, eps: number) => number][] = [
    ["dpo", { beta: 0.1 }, () => 1],
    ["dpo", { beta: 0.3, labelSmoothing: 0.2 }, (_b, e) => 1 - 2 * e],
    ["robust", { beta: 0.1, labelSmoothing: 0.1 }, (_b, e) => 1 / (1 - 2 * e)],
    ["cpo", { beta: 0.1, labelSmoothing: 0.1 }, (_b, e) => 1 - 2 * e],
  ];
  for (const [name, options, factor] of antisymmetric) {
    it(`${name} ${JSON.stringify(options)}: loss(pair) − loss(swapped pair) = −${factor === antisymmetric[0]![2] ? "" : "k·"}z`, () => {
      const make = (ag.objectives as unknown as Record<string, (o: object) => ag.objectives.Objective>)[name]!;
      fc.assert(
        fc.property(rawBatchArb({ maxAbs: 1e3, maxSize: 1 }), (raw) => {
          const reference = name !== "cpo";
          const r = (S: number, ref: number) => S - (reference ? ref : 0);
          const delta = r(raw.policyChosenLogps[0]!, raw.refChosenLogps[0]!) - r(raw.policyRejectedLogps[0]!, raw.refRejectedLogps[0]!);
          const z = options.beta! * delta,
            k = factor(options.beta!, options.labelSmoothing ?? 0);
          const lhs = lossOf(make(options), raw) - lossOf(make(options), swapped(raw));
          expect(closeTo(lhs, -k * z, 1e-9, 1e-9)).toBeNull();
        }),
        runs(30),
      );
    });
  }
});

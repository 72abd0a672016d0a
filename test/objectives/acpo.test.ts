/**
 * ACPO's defining properties, each against an independent plain-JavaScript
 * computation of α (test/objectives/cases.ts) rather than against itself.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import {
  acpoAlphaReference,
  acpoFrozen,
  batchSize,
  closeTo,
  concatBatches,
  LOGP_FIELDS,
  lossAndGrads,
  logpTensors,
  ratios,
  rawBatchArb,
  runs,
  smoothBatchArb,
  toBatch,
  type RawBatch,
} from "./cases.js";

const O = ag.objectives;
const sigmoid = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
const alphaOf = (raw: RawBatch, opts: ag.objectives.AcpoOptions = {}) =>
  ag.scope(() => Array.from(O.acpoCoefficients(toBatch(raw), opts).alpha.dataSync()));

const VARIANTS: ag.objectives.AcpoOptions[] = [
  {},
  { target: "pair" },
  { lengthNormalize: true, delta: 0.001 },
  { clip: [0.25, 0.75] },
  { beta: 0.5, delta: 0.05 },
  { referenceFree: true },
];

describe("ACPO", () => {
  it("computes α and τ as specified (against a plain-JavaScript reference), for every variant", () => {
    let interior = 0,
      total = 0;
    for (const opts of VARIANTS) {
      fc.assert(
        fc.property(rawBatchArb({ maxAbs: 40 }), (raw) => {
          const ref = acpoAlphaReference(raw, opts);
          const ours = ag.scope(() => {
            const { alpha, target } = O.acpoCoefficients(toBatch(raw), opts);
            return { alpha: Array.from(alpha.dataSync()), target: Array.from(target.dataSync()) };
          });
          expect(closeTo(ours.target, ref.target, 1e-15)).toBeNull();
          expect(closeTo(ours.alpha, ref.alpha, 1e-12, 1e-15)).toBeNull();
          total += ref.alpha.length;
          interior += ref.alpha.filter((a) => a > 0 && a < 1).length;
        }),
        runs(30),
      );
    }
    expect(interior / total, "share of pairs with 0 < α < 1 in the draws (the test needs active pairs)").toBeGreaterThan(0.05);
  });

  it("keeps α in [0, 1], and within the clip bounds where it is active, for any input", () => {
    const clipArb = fc
      .tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }))
      .map(([a, b]) => [Math.min(a, b), Math.max(a, b)] as [number, number]);
    fc.assert(
      fc.property(
        rawBatchArb({ maxAbs: 1e4, maxLength: 4096 }),
        clipArb,
        fc.constantFrom("batch" as const, "pair" as const),
        (raw, clip, target) => {
          for (const a of alphaOf(raw, { clip, target })) {
            expect(a >= 0 && a <= 1).toBe(true);
            if (a !== 1) expect(a >= clip[0] && a <= clip[1]).toBe(true);
          }
        },
      ),
      runs(40),
    );
  });

  it("equals DPO in value and gradient (1e-12, float64) when every pair is still below its target", () => {
    // δ = 100 puts τ ≥ 200 in reward units, far above any margin of these batches: α = 1 everywhere.
    fc.assert(
      fc.property(
        rawBatchArb({ maxAbs: 100 }),
        fc.constantFrom({}, { lengthNormalize: true }, { target: "pair" as const }),
        (raw, extra) => {
          const acpo = O.acpo({ delta: 100, ...extra }),
            dpo = O.dpo({ lengthNormalize: extra.lengthNormalize ?? false });
          const metrics = ag.scope(() => Object.fromEntries(Object.entries(acpo(toBatch(raw)).metrics).map(([k, v]) => [k, v.item()])));
          expect(metrics["acpo/alpha"]).toBe(1);
          expect(metrics["acpo/active_fraction"]).toBe(0);
          const a = lossAndGrads(acpo, raw),
            d = lossAndGrads(dpo, raw);
          expect(closeTo(a.loss, d.loss, 1e-12, 1e-15)).toBeNull();
          for (const f of LOGP_FIELDS) expect(closeTo(a.grads[f], d.grads[f], 1e-12, 1e-15), f).toBeNull();
        },
      ),
      runs(30),
    );
  });

  it("has ∂loss/∂S_c = −β·σ(−z)/B (DPO's form) and ∂loss/∂S_r = +β·α·σ(−z)/B", () => {
    for (const opts of VARIANTS) {
      fc.assert(
        fc.property(rawBatchArb({ maxAbs: 40 }), (raw) => {
          const o = { beta: 0.1, lengthNormalize: false, referenceFree: false, ...opts };
          const B = batchSize(raw);
          const alpha = acpoAlphaReference(raw, opts).alpha;
          const { rc, rr } = ratios(raw, o);
          const weight = rc.map((r, i) => (o.beta * sigmoid(-o.beta * (r - alpha[i]! * rr[i]!))) / B);
          const perToken = (L: number[], i: number) => (o.lengthNormalize ? 1 / L[i]! : 1);
          const { grads } = lossAndGrads(O.acpo(opts), raw);
          expect(
            closeTo(
              grads.policyChosenLogps,
              weight.map((w, i) => -w * perToken(raw.chosenLengths, i)),
              1e-10,
              1e-15,
            ),
          ).toBeNull();
          expect(
            closeTo(
              grads.policyRejectedLogps,
              weight.map((w, i) => alpha[i]! * w * perToken(raw.rejectedLengths, i)),
              1e-10,
              1e-15,
            ),
          ).toBeNull();
        }),
        runs(20),
      );
    }
  });

  it("passes no gradient through α: its gradient is that of the same loss with α a constant", () => {
    let differs = 0;
    fc.assert(
      fc.property(smoothBatchArb({ maxAbs: 20 }), (raw) => {
        const frozen = acpoFrozen(raw);
        const [, expected] = ag.valueAndGrad((xs: ag.Tensor[]) => frozen(...xs))(logpTensors(raw));
        const { grads } = lossAndGrads(O.acpo(), raw);
        LOGP_FIELDS.forEach((f, i) => expect(closeTo(grads[f], Array.from(expected[i]!.dataSync()), 1e-12, 1e-15), f).toBeNull());
        // ...which differs from the derivative of the loss value wherever some 0 < α < 1 (else this test proves nothing)
        const eps = 1e-6,
          k = 0;
        const at = (h: number) => {
          const r = { ...raw, policyRejectedLogps: raw.policyRejectedLogps.map((v, i) => (i === k ? v + h : v)) };
          return lossAndGrads(O.acpo(), r).loss;
        };
        const alpha = acpoAlphaReference(raw).alpha[k]!;
        if (alpha > 0.01 && alpha < 0.99 && Math.abs((at(eps) - at(-eps)) / (2 * eps) - grads.policyRejectedLogps[k]!) > 1e-6) differs++;
      }),
      runs(40),
    );
    expect(differs, "pairs where the value's derivative and ACPO's gradient differ").toBeGreaterThan(0);
  });

  it("is finite at R_r = 0, R_r = −0, just below 0, and for huge |R|", () => {
    const cases: Partial<RawBatch>[] = [
      { policyRejectedLogps: [-5, -7], refRejectedLogps: [-5, -7] }, // R_r = 0
      { policyRejectedLogps: [-5, -7], refRejectedLogps: [-5 + 1e-300, -7 - 5e-324] }, // R_r = ±tiny
      { policyChosenLogps: [-1, -2], refChosenLogps: [-1e4, -2e4], policyRejectedLogps: [-1e4, -1e300], refRejectedLogps: [-1, 0] },
    ];
    for (const over of cases) {
      const raw: RawBatch = {
        policyChosenLogps: [-3, -4],
        policyRejectedLogps: [-5, -7],
        refChosenLogps: [-6, -6],
        refRejectedLogps: [-5, -7],
        chosenLengths: [3, 4],
        rejectedLengths: [5, 6],
        policyChosenLogpsNoImage: [0, 0],
        refChosenLogpsNoImage: [0, 0],
        ...over,
      };
      for (const opts of [...VARIANTS, { symmetric: true }]) {
        const { loss, grads } = lossAndGrads(O.acpo(opts), raw);
        expect(Number.isFinite(loss), `${JSON.stringify(over)} ${JSON.stringify(opts)}: loss ${loss}`).toBe(true);
        for (const f of LOGP_FIELDS) expect(grads[f].every(Number.isFinite), f).toBe(true);
        for (const a of alphaOf(raw, opts)) expect(a >= 0 && a <= 1).toBe(true);
      }
    }
  });

  it("symmetric ablation: both gradients carry α, z = β·α·(r_c − r_r)", () => {
    fc.assert(
      fc.property(rawBatchArb({ maxAbs: 40 }), (raw) => {
        const alpha = acpoAlphaReference(raw).alpha,
          B = batchSize(raw);
        const { rc, rr } = ratios(raw, { lengthNormalize: false, referenceFree: false });
        const w = rc.map((r, i) => (0.1 * alpha[i]! * sigmoid(-0.1 * alpha[i]! * (r - rr[i]!))) / B);
        const { grads } = lossAndGrads(O.acpo({ symmetric: true }), raw);
        expect(
          closeTo(
            grads.policyChosenLogps,
            w.map((x) => -x),
            1e-10,
            1e-15,
          ),
        ).toBeNull();
        expect(closeTo(grads.policyRejectedLogps, w, 1e-10, 1e-15)).toBeNull();
      }),
      runs(20),
    );
  });

  it("reports acpo/alpha, acpo/target, acpo/active_fraction and TRL's metrics, detached", () => {
    fc.assert(
      fc.property(rawBatchArb({ maxAbs: 40 }), fc.constantFrom("batch" as const, "pair" as const), (raw, target) => {
        const ref = acpoAlphaReference(raw, { target });
        const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
        ag.scope(() => {
          const { metrics } = O.acpo({ target })(toBatch(raw));
          for (const k of ["rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "logps/chosen", "logps/rejected"])
            expect(metrics).toHaveProperty([k]);
          expect(closeTo(metrics["acpo/alpha"]!.item(), mean(ref.alpha), 1e-12, 1e-15)).toBeNull();
          expect(closeTo(metrics["acpo/target"]!.item(), mean(ref.target), 1e-12)).toBeNull();
          expect(metrics["acpo/active_fraction"]!.item()).toBeCloseTo(ref.alpha.filter((a) => a < 1).length / ref.alpha.length, 12);
          for (const v of Object.values(metrics)) expect(v.concrete()).toBe(v);
        });
      }),
      runs(20),
    );
  });

  it("with target 'batch', depends on the batch it is in (τ is a batch mean); with 'pair' it does not", () => {
    // Pair 0 meets a small target but not a large one; the other batch's long completions raise the mean τ.
    const one: RawBatch = {
      policyChosenLogps: [-10],
      policyRejectedLogps: [-30],
      refChosenLogps: [-12],
      refRejectedLogps: [-20],
      chosenLengths: [5],
      rejectedLengths: [5],
      policyChosenLogpsNoImage: [0],
      refChosenLogpsNoImage: [0],
    };
    const long: RawBatch = { ...one, chosenLengths: [400], rejectedLengths: [400] };
    const both = concatBatches(one, long);
    expect(alphaOf(one)[0]).toBeLessThan(1);
    expect(alphaOf(both)[0]).toBe(1);
    expect(alphaOf(both, { target: "pair" })[0]).toBe(alphaOf(one, { target: "pair" })[0]);
  });

  it("composes: acpo + sft anchor, and acpo in the MPO mix", () => {
    const raw = fc.sample(smoothBatchArb(), { numRuns: 1, seed: 11 })[0]!;
    const anchored = O.weighted([
      [O.acpo(), 1],
      [O.sft(), 0.5],
    ]);
    const mix = O.weighted([
      [O.acpo(), 0.8],
      [O.bcoPair(), 0.2],
      [O.sft(), 1],
    ]);
    const loss = (o: ag.objectives.Objective) => lossAndGrads(o, raw).loss;
    expect(closeTo(loss(anchored), loss(O.acpo()) + 0.5 * loss(O.sft()), 1e-14)).toBeNull();
    expect(closeTo(loss(mix), 0.8 * loss(O.acpo()) + 0.2 * loss(O.bcoPair()) + loss(O.sft()), 1e-14)).toBeNull();
    const metrics = ag.scope(() => Object.keys(mix(toBatch(raw)).metrics));
    expect(metrics).toContain("acpo/acpo/alpha");
    expect(metrics).toContain("sft/loss");
  });
});

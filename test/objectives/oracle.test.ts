/**
 * Every objective (with its option variants) and sequenceLogps against
 * independent PyTorch implementations (test/oracle/objectives.py) in float64:
 * loss and the gradient with respect to every log-prob field, rtol 1e-9.
 * All cases go to ONE Python process.
 */
import fc from "fast-check";
import { beforeAll, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { describeOracle, runOracle, toWire } from "../helpers/torch.js";
import { acpoActiveBatchArb, CASES, closeTo, LOGP_FIELDS, lossAndGrads, smoothBatchArb, type RawBatch } from "./cases.js";

const RTOL = 1e-9;
/** For gradient entries that are zero up to rounding. */
const ATOL = 1e-14;
const BATCHES = process.env.ANCHORGRAD_FULL === "1" ? 20 : 3;

interface TorchObjective {
  loss: number;
  grads: Record<string, number[]>;
}
interface TorchSequence {
  sum: number[];
  count: number[];
  grad: { shape: number[]; data: number[] };
}

describeOracle("objectives vs PyTorch (float64, rtol 1e-9)", () => {
  const batches: RawBatch[] = [
    ...fc.sample(smoothBatchArb({ maxAbs: 30, maxSize: 6 }), { numRuns: BATCHES, seed: 42 }),
    ...fc.sample(smoothBatchArb({ maxAbs: 300, maxSize: 4, maxLength: 400 }), { numRuns: 1, seed: 43 }),
    ...fc.sample(acpoActiveBatchArb(), { numRuns: 2, seed: 44 }),
  ];
  const objectiveCases = CASES.flatMap((c) => batches.map((batch) => ({ c, batch })));
  const sequenceCases = [
    { B: 2, T: 6, V: 5, chunk: undefined },
    { B: 3, T: 9, V: 11, chunk: 2 },
    { B: 1, T: 17, V: 32, chunk: 5 },
    { B: 2, T: 2, V: 3, chunk: 1 },
  ].map((s, i) =>
    ag.scope(() => {
      const labels = ag.tensor(
        Array.from({ length: s.B * s.T }, (_, k) => (k * 31 + i) % s.V),
        { shape: [s.B, s.T], dtype: "int32" },
      );
      const mask = ag.tensor(
        Array.from({ length: s.B * s.T }, (_, k) => +((k * 7 + i) % 3 !== 0)),
        { shape: [s.B, s.T], dtype: "float64" },
      );
      return {
        ...s,
        logits: ag.randomNormal([s.B, s.T, s.V], { seed: 100 + i, dtype: "float64", std: 4 }),
        labels,
        mask,
        weights: Array.from({ length: s.B }, (_, b) => 1 - 0.7 * b),
      };
    }),
  );
  let torch: { objectives: TorchObjective[]; sequences: TorchSequence[] };

  beforeAll(async () => {
    torch = await runOracle("objectives.py", {
      objectives: objectiveCases.map(({ c, batch }) => ({ name: c.name, options: c.options, batch })),
      sequences: sequenceCases.map((s) => ({
        logits: toWire(s.logits),
        labels: toWire(s.labels),
        mask: toWire(s.mask),
        weights: s.weights,
      })),
    });
  });

  for (const c of CASES) {
    it(`${c.label}: loss and gradients`, () => {
      objectiveCases.forEach((oc, i) => {
        if (oc.c !== c) return;
        const ours = lossAndGrads(c.make(), oc.batch),
          theirs = torch.objectives[i]!;
        expect(closeTo(ours.loss, theirs.loss, RTOL, ATOL), "loss").toBeNull();
        for (const f of LOGP_FIELDS) expect(closeTo(ours.grads[f], theirs.grads[f]!, RTOL, ATOL), `∂loss/∂${f}`).toBeNull();
      });
    });
  }

  it("sequenceLogps: sums, counts and the gradient with respect to the logits", () => {
    sequenceCases.forEach((s, i) =>
      ag.scope(() => {
        const theirs = torch.sequences[i]!;
        const w = ag.tensor(s.weights, { dtype: "float64" });
        const f = (x: ag.Tensor) => ag.sequenceLogps(x, s.labels, s.mask, s.chunk === undefined ? {} : { chunk: s.chunk });
        const out = f(s.logits);
        const grad = ag.grad((x: ag.Tensor) => ag.sum(ag.mul(f(x).sum, w)))(s.logits);
        expect(closeTo(Array.from(out.sum.dataSync()), theirs.sum, RTOL, ATOL), `sum, case ${i}`).toBeNull();
        expect(Array.from(out.count.dataSync())).toEqual(theirs.count);
        expect(grad.shape).toEqual(theirs.grad.shape);
        expect(closeTo(Array.from(grad.dataSync()), theirs.grad.data, RTOL, ATOL), `gradient, case ${i}`).toBeNull();
      }),
    );
  });
});

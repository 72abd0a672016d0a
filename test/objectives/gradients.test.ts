/**
 * Float64 gradient checks (central differences along random directions) for
 * every objective and option variant, on batches drawn by fast-check. For the
 * ACPO cases α is a stop-gradient, so the derivative of the loss value is not
 * the gradient; there the check is twofold: ACPO's autodiff gradient equals
 * that of an independent loss with α frozen as a constant (to 1e-12), and
 * that frozen loss passes checkGrads.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { acpoActiveBatchArb, CASES, closeTo, LOGP_FIELDS, lossAndGrads, lossOfLogps, logpTensors, runs, smoothBatchArb } from "./cases.js";

describe("checkGrads over every objective (float64)", () => {
  for (const c of CASES) {
    it(c.label, () => {
      fc.assert(
        fc.property(c.frozen ? fc.oneof(smoothBatchArb(), acpoActiveBatchArb()) : smoothBatchArb(), (raw) => {
          ag.scope(() => {
            const f = c.frozen ? c.frozen(raw) : lossOfLogps(c.make(), raw);
            ag.checkGrads(f, logpTensors(raw), { atol: 1e-7, rtol: 1e-6 });
            if (!c.frozen) return;
            const ours = lossAndGrads(c.make(), raw);
            const [value, grads] = ag.valueAndGrad((xs: ag.Tensor[]) => f(...xs))(logpTensors(raw));
            expect(closeTo(ours.loss, value.item(), 1e-12, 1e-15)).toBeNull();
            LOGP_FIELDS.forEach((field, i) => {
              expect(closeTo(ours.grads[field], Array.from(grads[i]!.dataSync()), 1e-12, 1e-15), field).toBeNull();
            });
          });
        }),
        runs(12),
      );
    });
  }

  it("second order (Hessian-vector products) for a representative set", () => {
    const raw = fc.sample(smoothBatchArb({ maxSize: 4 }), { numRuns: 1, seed: 3 })[0]!;
    for (const label of ["dpo", "ipo", "exoPair", "discopop", "orpo", "mdpo", "simpo"]) {
      const c = CASES.find((x) => x.label === label)!;
      ag.scope(() => ag.checkGrads(lossOfLogps(c.make(), raw), logpTensors(raw), { order: 2, atol: 1e-6, rtol: 1e-5 }));
    }
  });
});

/**
 * The objectives and sequenceLogps on the webgpu backend (float32) agree
 * with the cpu backend: loss and gradients of every objective, sums and the
 * logits gradient of sequenceLogps. On webgpu the length and label checks
 * cannot read values synchronously and are skipped; the math must not change.
 */
import fc from "fast-check";
import { expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { describeWebGPU, expectClose, values } from "../webgpu/setup.js";
import { acpoActiveBatchArb, CASES, LOGP_FIELDS, type RawBatch } from "./cases.js";

const batchOn = (raw: RawBatch, device: string): ag.objectives.PreferenceBatch =>
  Object.fromEntries(
    Object.entries(raw).map(([k, v]) => [k, ag.tensor(v, { dtype: k.endsWith("Lengths") ? "int32" : "float32", device })]),
  ) as unknown as ag.objectives.PreferenceBatch;

async function lossAndGrads(objective: ag.objectives.Objective, raw: RawBatch, device: string): Promise<number[]> {
  const batch = batchOn(raw, device);
  const logps = LOGP_FIELDS.map((f) => batch[f]!);
  const [loss, grads] = ag.valueAndGrad(
    (xs: ag.Tensor[]) => objective({ ...batch, ...Object.fromEntries(LOGP_FIELDS.map((f, i) => [f, xs[i]!])) }).loss,
  )(logps);
  return [...(await values(loss)), ...(await Promise.all(grads.map(values))).flat()];
}

describeWebGPU("objectives on webgpu agree with cpu (float32)", () => {
  const raw = fc.sample(acpoActiveBatchArb({ maxSize: 5 }), { numRuns: 1, seed: 9 })[0]!;

  it("every objective: loss and gradients", async () => {
    for (const c of CASES) {
      const cpu = await lossAndGrads(c.make(), raw, "cpu");
      const gpu = await lossAndGrads(c.make(), raw, "webgpu");
      expectClose(gpu, cpu, c.label, { rtol: 1e-4, atol: 1e-5 });
    }
  });

  it("sequenceLogps: sums, counts and the logits gradient", async () => {
    const run = async (device: string) => {
      const logits = ag.randomNormal([2, 9, 50], { seed: 3, device });
      const labels = ag.tensor(
        Array.from({ length: 18 }, (_, i) => (i % 4 === 0 ? -100 : (i * 7) % 50)),
        { shape: [2, 9], dtype: "int32", device },
      );
      const mask = ag.tensor(
        Array.from({ length: 18 }, (_, i) => i % 4 !== 0),
        { shape: [2, 9], device },
      );
      const out = ag.sequenceLogps(logits, labels, mask, { chunk: 3 });
      const grad = ag.grad((x: ag.Tensor) => ag.sum(ag.sequenceLogps(x, labels, mask, { chunk: 3 }).sum))(logits);
      return { sum: await values(out.sum), count: await values(out.count), grad: await values(grad) };
    };
    const cpu = await run("cpu"),
      gpu = await run("webgpu");
    expectClose(gpu.sum, cpu.sum, "sum", { rtol: 1e-5, atol: 1e-5 });
    expect(gpu.count).toEqual(cpu.count);
    expectClose(gpu.grad, cpu.grad, "gradient", { rtol: 1e-4, atol: 1e-6 });
  });
});

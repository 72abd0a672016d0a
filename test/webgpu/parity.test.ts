/**
 * Cross-backend parity: every row of the core op table (primitives and
 * composites) runs on webgpu in float32 against the cpu in float32, values
 * and VJPs, on the same drawn cases and the same seeded cotangents.
 */
import { expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { kernelPrimitives } from "../../src/prims/index.js";
import { OP_TABLE, sampleCases } from "../core/op-table.js";
import { evaluateRow, type RowResult } from "../core/run-row.js";
import { describeWebGPU, expectClose, gpu } from "./setup.js";

const CASES = process.env.ANCHORGRAD_FULL === "1" ? 24 : 8;

async function readAll(r: RowResult, device: string) {
  for (const t of [r.value, ...(r.grads ?? [])]) expect(t.device).toBe(device);
  return { value: await r.value.data(), dtype: r.value.dtype, grads: await Promise.all((r.grads ?? []).map((g) => g.data())) };
}

describeWebGPU("webgpu parity with cpu over the op table", () => {
  it("has a kernel for every primitive", () => {
    const missing = kernelPrimitives().filter((p) => !gpu.kernelNames().includes(p));
    expect(missing).toEqual([]);
  });

  it("covers every kernel primitive with at least one op-table row", () => {
    const covered = new Set(OP_TABLE.map((r) => r.primitive).filter(Boolean));
    const elementwise = new Set(OP_TABLE.map((r) => r.name.split(".")[0]));
    expect(kernelPrimitives().filter((p) => !covered.has(p) && !elementwise.has(p))).toEqual([]);
  });

  for (const row of OP_TABLE) {
    it(`${row.name}: values and gradients match the cpu`, async () => {
      for (const [k, c] of sampleCases(row, CASES, 7).entries()) {
        await ag.scope(async () => {
          const ref = await readAll(evaluateRow(row, c, { dtype: "float32", device: "cpu", seed: k }), "cpu");
          const got = await readAll(evaluateRow(row, c, { dtype: "float32", device: "webgpu", seed: k }), "webgpu");
          const where = `${row.name} case ${k} ${JSON.stringify(c.params)} shapes ${JSON.stringify(c.inputs.map((i) => i.shape))}`;
          expect(got.dtype, where).toBe(ref.dtype);
          expectClose(got.value, ref.value, `${where} value`, { exact: !ag.isFloat(ref.dtype) });
          ref.grads.forEach((g, i) => expectClose(got.grads[i]!, g, `${where} gradient of input ${i}`));
        });
      }
    });
  }
});

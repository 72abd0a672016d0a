/**
 * Every op-table row in float32 against the same row in float64, values and
 * VJPs: the CPU's float32 kernels, and the path another backend's parity
 * suite takes (materialize in float32 on its device, evaluateRow, compare).
 */
import { describe, it } from "vitest";
import * as ag from "../../src/index.js";
import { expectFloat32Close } from "./close.js";
import { OP_TABLE, sampleCases } from "./op-table.js";
import { evaluateRow } from "./run-row.js";

const CASES_PER_ROW = process.env.ANCHORGRAD_FULL === "1" ? 50 : 8;
const SEED = Number(process.env.FC_SEED ?? 99);

describe("op table: float32 agrees with float64 (cpu)", () => {
  for (const row of OP_TABLE) {
    it(row.name, () => {
      sampleCases(row, CASES_PER_ROW, SEED).forEach((c, i) =>
        ag.scope(() => {
          const where = `${row.name} case ${JSON.stringify(c)}`;
          const lo = evaluateRow(row, c, { dtype: "float32", seed: i });
          const hi = evaluateRow(row, c, { dtype: "float64", seed: i });
          const outDType = (d: ag.DType) => (d === "float64" ? "float32" : d);
          if (outDType(hi.value.dtype) !== lo.value.dtype)
            throw new Error(`${where}: float32 run gave ${lo.value.dtype}, float64 run ${hi.value.dtype}`);
          expectFloat32Close(lo.value, hi.value, `value of ${where}`);
          lo.grads?.forEach((g, k) => expectFloat32Close(g, hi.grads![k]!, `gradient ${k} of ${where}`));
        }),
      );
    });
  }
});

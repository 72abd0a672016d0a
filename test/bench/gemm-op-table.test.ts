/**
 * The op-table rows that compute matrix products (matmul, conv2d, attention,
 * ...; found by running them), on every GEMM the cpu backend has here, each
 * taking every product however small: float64 values and VJPs against
 * PyTorch (the oracle's rtol 1e-6), float32 against float64 (the float32
 * suite's tolerance) and float64 checkGrads. The default suites reach only
 * the backend's own choice, and their tiny cases only the JS GEMM.
 */
import { describe, expect, it, beforeAll } from "vitest";
import * as ag from "../../src/index.js";
import { blasStatus } from "../../src/backends/cpu/blas.js";
import { describeOracle, runOracle, toWire } from "../helpers/torch.js";
import { expectClose, expectFloat32Close } from "../core/close.js";
import { OP_TABLE, sampleCases, type OpCase } from "../core/op-table.js";
import { evaluateRow, gradCheckRow } from "../core/run-row.js";
import { gemmPaths, usesGemm, withGemm } from "./gemm-paths.js";

const SEED = 11;
const CASES = 6;
const PATHS = gemmPaths();
const ROWS = OP_TABLE.filter((row) => usesGemm(() => ag.scope(() => void evaluateRow(row, sampleCases(row, 1, SEED)[0]!))));

it("finds the GEMM rows of the op table, and a native BLAS on Linux with OpenBLAS and koffi installed", () => {
  expect(ROWS.map((r) => r.name)).toEqual(expect.arrayContaining(["matmul", "causalAttention"]));
  const s = blasStatus();
  // where the BLAS is off or missing, the reason must say so (doctor prints it)
  if (!s.provider) expect(s.reason).toMatch(/ANCHORGRAD_BLAS|koffi|no BLAS library/);
});

type Num = number | "nan" | "inf" | "-inf";
interface TorchTensor {
  shape: number[];
  data: Num[];
}
const decode = (v: Num): number => (v === "nan" ? NaN : v === "inf" ? Infinity : v === "-inf" ? -Infinity : v);
const fromTorch = (t: TorchTensor) => ag.tensor(t.data.map(decode), { shape: t.shape, dtype: "float64" });

describeOracle("GEMM rows vs PyTorch (float64, rtol 1e-6) on every GEMM", () => {
  const cases: { row: (typeof ROWS)[number]; c: OpCase; seed: number }[] = ROWS.flatMap((row) =>
    sampleCases(row, CASES, SEED).map((c, i) => ({ row, c, seed: i })),
  );
  let answers: { value: TorchTensor; grads?: TorchTensor[]; error?: string }[] = [];

  beforeAll(async () => {
    // the cotangent is seeded, so every path's VJP is taken at the same one
    const wire = cases.map(({ row, c, seed }) => ({
      row: row.name,
      torch: row.torch,
      inputs: c.inputs,
      params: c.params,
      ct: row.differentiable ? toWire(evaluateRow(row, c, { seed }).cotangent!) : null,
    }));
    answers = (await runOracle<{ results: typeof answers }>("ops.py", { cases: wire })).results;
  });

  for (const { name, gemm } of PATHS)
    for (const row of ROWS)
      it(`${row.name} on the ${name} GEMM`, () =>
        withGemm(gemm, () =>
          cases.forEach(({ row: r, c, seed }, i) => {
            if (r !== row) return;
            const theirs = answers[i]!,
              where = `${row.name} case ${JSON.stringify(c)}`;
            expect(theirs.error, where).toBeUndefined();
            ag.scope(() => {
              const ours = evaluateRow(row, c, { seed });
              const tol = { rtol: 1e-6, atol: 1e-12 };
              expectClose(ours.value, fromTorch(theirs.value), tol, `value of ${where}`);
              ours.grads?.forEach((g, k) => expectClose(g, fromTorch(theirs.grads![k]!), tol, `gradient ${k} of ${where}`));
            });
          }),
        ));
});

describe.each(PATHS)("GEMM rows on the $name GEMM", ({ gemm }) => {
  for (const row of ROWS) {
    it(`${row.name}: float32 agrees with float64`, () =>
      withGemm(gemm, () =>
        sampleCases(row, CASES, SEED).forEach((c, i) =>
          ag.scope(() => {
            const where = `${row.name} case ${JSON.stringify(c)}`;
            const lo = evaluateRow(row, c, { dtype: "float32", seed: i }),
              hi = evaluateRow(row, c, { dtype: "float64", seed: i });
            expectFloat32Close(lo.value, hi.value, `value of ${where}`);
            lo.grads?.forEach((g, k) => expectFloat32Close(g, hi.grads![k]!, `gradient ${k} of ${where}`));
          }),
        ),
      ));
    if (row.differentiable && row.finiteDifferences !== false)
      it(`${row.name}: checkGrads in float64`, () =>
        withGemm(gemm, () => sampleCases(row, 2, SEED).forEach((c, i) => gradCheckRow(row, c, i))));
  }
});

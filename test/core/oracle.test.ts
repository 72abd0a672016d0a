/**
 * The op table against PyTorch 1.13 in float64: every row's value, and for
 * differentiable rows the VJP of every float input at a random cotangent
 * (torch.autograd.grad), with rtol 1e-6. All cases go to ONE Python process
 * (test/oracle/ops.py).
 */
import { beforeAll, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { describeOracle, runOracle, toWire } from "../helpers/torch.js";
import { OP_TABLE, sampleCases, type OpCase, type OpRow } from "./op-table.js";
import { evaluateRow, type RowResult } from "./run-row.js";

const CASES_PER_ROW = process.env.ANCHORGRAD_FULL === "1" ? 200 : 20;
const SEED = Number(process.env.FC_SEED ?? 7);
const RTOL = 1e-6;
/** Only for entries that are zero up to rounding (sums that cancel); 1e-6 of any value near 1 is 1e6 times larger. */
const ATOL = 1e-12;

type Num = number | "nan" | "inf" | "-inf";
interface TorchTensor {
  shape: number[];
  dtype: string;
  data: Num[];
}
interface TorchResult {
  value?: TorchTensor;
  grads?: TorchTensor[];
  error?: string;
}

interface Prepared {
  row: OpRow;
  c: OpCase;
  ours?: RowResult;
  error?: unknown;
}

const decode = (v: Num): number => (v === "nan" ? NaN : v === "inf" ? Infinity : v === "-inf" ? -Infinity : v);

/** Same dtype family (and the same float width), shape and values to rtol/atol; names the worst entry. */
function compare(label: string, ours: ag.Tensor, theirs: TorchTensor): string | null {
  const family = (d: string) => (d.startsWith("int") ? "int" : d);
  if (family(ours.dtype) !== family(theirs.dtype)) return `${label}: dtype ${ours.dtype}, torch ${theirs.dtype}`;
  if (ours.shape.join() !== theirs.shape.join()) return `${label}: shape [${ours.shape}], torch [${theirs.shape}]`;
  const a = ours.dataSync();
  let worst = -1,
    worstExcess = 0;
  theirs.data.forEach((raw, i) => {
    const b = decode(raw),
      x = a[i]!;
    if (Object.is(x, b) || x === b || (Number.isNaN(x) && Number.isNaN(b))) return;
    const excess = Math.abs(x - b) - (ATOL + RTOL * Math.abs(b));
    if (!(excess <= worstExcess)) {
      worst = i;
      worstExcess = Number.isNaN(excess) ? Infinity : excess;
    }
  });
  return worst < 0 ? null : `${label}: flat index ${worst} is ${a[worst]}, torch ${decode(theirs.data[worst]!)}`;
}

describeOracle("op table vs PyTorch (float64, rtol 1e-6)", () => {
  const prepared: Prepared[] = OP_TABLE.flatMap((row) => sampleCases(row, CASES_PER_ROW, SEED).map((c) => ({ row, c })));
  let answers: TorchResult[] = [];

  beforeAll(async () => {
    prepared.forEach((p, i) => {
      try {
        p.ours = evaluateRow(p.row, p.c, { seed: i });
      } catch (e) {
        p.error = e;
      }
    });
    const cases = prepared.map((p) => ({
      row: p.row.name,
      torch: p.row.torch,
      inputs: p.c.inputs,
      params: p.c.params,
      ct: p.ours?.cotangent ? toWire(p.ours.cotangent) : null,
    }));
    answers = (await runOracle<{ results: TorchResult[] }>("ops.py", { cases })).results;
  });

  for (const row of OP_TABLE) {
    it(`${row.name}: value${row.differentiable ? " and VJP" : ""}`, () => {
      const problems: string[] = [];
      prepared.forEach((p, i) => {
        if (p.row !== row) return;
        const where = `case ${JSON.stringify(p.c)}`;
        const theirs = answers[i]!;
        if (p.error) return void problems.push(`anchorgrad threw ${String(p.error)} on ${where}`);
        if (theirs.error) return void problems.push(`torch threw ${theirs.error} on ${where}`);
        const ours = p.ours!;
        const issues = [
          compare("value", ours.value, theirs.value!),
          ...(ours.grads ?? []).map((g, k) => compare(`gradient of float input ${k}`, g, theirs.grads![k]!)),
        ].filter((s): s is string => s !== null);
        if (issues.length) problems.push(`${issues.join("; ")} on ${where}`);
      });
      expect(problems).toEqual([]);
    });
  }
});

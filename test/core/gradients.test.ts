/**
 * Float64 gradient checks driven by the op table: every differentiable row,
 * over cases drawn by fast-check, through ag.checkGrads (order 2 where the
 * row is smooth). Plus the meta-tests that keep the table complete.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { cpuBackend } from "../../src/backends/cpu/index.js";
import { overrideVjp, type VjpRule } from "../../src/ops/derivatives.js";
import { kernelPrimitives, unaryPrims, type NoParams, type UnaryName } from "../../src/prims/index.js";
import { OP_TABLE, materialize, rowByName, sampleCases, type OpRow } from "./op-table.js";
import { gradCheckRow } from "./run-row.js";

const FULL = process.env.ANCHORGRAD_FULL === "1";
const NUM_RUNS = FULL ? 2000 : 200;
/** Fixed so CI is reproducible; set FC_SEED to explore other draws. */
const SEED = Number(process.env.FC_SEED ?? 20261126);

const checkedRows = OP_TABLE.filter((r) => r.differentiable && r.finiteDifferences !== false);

/** fast-check property: the row passes checkGrads on every drawn case. */
const gradProperty = (row: OpRow, numRuns = NUM_RUNS) =>
  fc.assert(
    fc.property(row.arb, (c) => gradCheckRow(row, c)),
    { numRuns, seed: SEED, includeErrorInReport: true },
  );

describe("checkGrads over the op table (float64)", () => {
  for (const row of checkedRows) {
    it(`${row.name}: order ${row.smooth ? 2 : 1}`, () => gradProperty(row));
  }
});

describe("the op table is complete", () => {
  const rowPrimitives = new Set(OP_TABLE.flatMap((r) => (r.primitive ? [r.primitive] : [])));

  it("has a row for every kernel primitive", () => {
    expect(kernelPrimitives().filter((p) => !rowPrimitives.has(p))).toEqual([]);
  });

  it("names only registered primitives, each row once", () => {
    expect([...rowPrimitives].filter((p) => !(kernelPrimitives() as string[]).includes(p))).toEqual([]);
    const names = OP_TABLE.map((r) => r.name);
    expect(names.length).toBe(new Set(names).size);
  });

  it("has a CPU kernel for every kernel primitive", () => {
    expect(kernelPrimitives().filter((p) => !cpuBackend.kernelNames().includes(p))).toEqual([]);
  });

  it("has every differentiable row gradient-checked by finite differences or the oracle", () => {
    for (const r of OP_TABLE) expect(r.torch.length, r.name).toBeGreaterThan(0);
    // rows kept from finite differences (ties) must still be differentiable, for the oracle's VJP
    for (const r of OP_TABLE.filter((x) => x.finiteDifferences === false)) expect(r.differentiable, r.name).toBe(true);
  });

  it("dispatches each primitive row's primitive to the backend", () => {
    const run = cpuBackend.run;
    const missing: string[] = [];
    try {
      for (const row of OP_TABLE.filter((r) => r.primitive)) {
        const seen = new Set<string>();
        cpuBackend.run = (prim, ...rest) => (seen.add(prim), run.call(cpuBackend, prim, ...rest));
        ag.scope(() => {
          for (const c of sampleCases(row, 8, SEED)) row.fn(materialize(c), c.params);
        });
        if (!seen.has(row.primitive!)) missing.push(`${row.name} never ran ${row.primitive}`);
      }
    } finally {
      cpuBackend.run = run;
    }
    expect(missing).toEqual([]);
  });
});

describe("the gradient checks can fail", () => {
  /** Swap a unary primitive's VJP rule for the duration of `body`. */
  function withVjp(name: UnaryName, vjp: VjpRule<NoParams>, body: () => void): void {
    const restore = overrideVjp(unaryPrims[name], vjp);
    try {
      body();
    } finally {
      restore();
    }
  }

  it("catches a wrong first derivative", () => {
    withVjp(
      "sin",
      (g, [x]) => [ag.mul(g, ag.sin(x!))],
      () => {
        expect(() => gradProperty(rowByName("sin"), 10)).toThrow(/order-1 derivative of argument 0/);
      },
    );
  });

  it("catches a rule that is right to first order only (order 2)", () => {
    // 1 - y² with y held constant: the gradient is right, its derivative is not
    withVjp(
      "tanh",
      (g, _x, y) => [ag.mul(g, ag.sub(1, ag.mul(ag.stopGradient(y), ag.stopGradient(y))))],
      () => {
        expect(() => gradProperty(rowByName("tanh"), 10)).toThrow(/order-2 derivative of argument 0/);
      },
    );
  });
});

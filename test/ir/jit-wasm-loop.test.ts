/**
 * The jit's fused float32 programs on the cpu's generated Wasm SIMD loop:
 * random chains of the ops it runs (arithmetic, min/max, sqrt and the
 * transcendentals, comparisons feeding `where`), over whole, per-feature
 * (suffix-broadcast, any period), per-row (repeated, with or without a
 * period) and scalar inputs, give exactly eager's
 * float32 results, element for element, on sizes where the Wasm loop runs.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { cpuBackend } from "../../src/backends/cpu/index.js";
import { generatedLoops } from "../../src/backends/cpu/wasm/fused.js";

type T = ag.Tensor;
const UNARY: Record<string, (a: T) => T> = {
  neg: ag.neg,
  abs: ag.abs,
  sqrt: (a) => ag.sqrt(ag.abs(a)),
  exp: ag.exp,
  log: (a) => ag.log(ag.abs(a)),
  log1p: (a) => ag.log1p(ag.abs(a)),
  tanh: ag.tanh,
  sigmoid: ag.sigmoid,
  erf: ag.erf,
};
const BINARY: Record<string, (a: T, b: T) => T> = {
  add: ag.add,
  sub: ag.sub,
  mul: ag.mul,
  div: ag.div,
  maximum: ag.maximum,
  minimum: ag.minimum,
  whereGreater: (a, b) => ag.where(ag.greater(a, b), a, ag.mul(b, 0.5)),
  whereLessEqual: (a, b) => ag.where(ag.lessEqual(a, b), b, a),
};

/** A program: each step applies an op to earlier values (0: x, 1: per-feature b, 2: scalar s, 3: per-row r). */
interface Step {
  readonly op: string;
  readonly a: number;
  readonly b: number;
}

const arbStep = (k: number) =>
  fc.record({
    op: fc.constantFrom(...Object.keys(UNARY), ...Object.keys(BINARY)),
    a: fc.nat(k + 3),
    b: fc.nat(k + 3),
  });
const arbProgram = fc
  .integer({ min: 1, max: 8 })
  .chain((n) => fc.tuple(...Array.from({ length: n }, (_, k) => arbStep(k))))
  .map((steps) => steps as Step[]);

function programFn(steps: readonly Step[]): (x: T, b: T, s: T, r: T) => T {
  return (x, b, s, r) => {
    const vals = [x, b, s, r];
    for (const st of steps) vals.push(UNARY[st.op] ? UNARY[st.op]!(vals[st.a]!) : BINARY[st.op]!(vals[st.a]!, vals[st.b]!));
    return ag.add(vals[vals.length - 1]!, x); // the output has x's shape
  };
}

const floats = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed + i * 0.37) * (2 + (i % 7)));

describe("jit's Wasm SIMD loop on the cpu", () => {
  it("equals eager bit for bit over random programs, shapes and periods", () => {
    const loopsBefore = generatedLoops();
    let fusedRuns = 0;
    const realFused = cpuBackend.runPointwise!;
    cpuBackend.runPointwise = (p, ins) => {
      const out = realFused(p, ins);
      if (out) fusedRuns++;
      return out;
    };
    try {
      fc.assert(
        fc.property(
          arbProgram,
          fc.integer({ min: 1, max: 2 }),
          fc.integer({ min: 16, max: 90 }),
          fc.integer({ min: 1, max: 67 }),
          (steps, lead, rows, cols) => {
            ag.scope(() => {
              // r is a per-row statistic: read every `cols` elements, and wrapping every `rows` rows when lead = 2
              const x = ag.tensor(floats(lead * rows * cols, rows), { shape: [lead, rows, cols] });
              const b = ag.tensor(floats(cols, cols), { shape: [cols] });
              const s = ag.tensor(new Float32Array([0.75]), { shape: [] });
              const r = ag.tensor(floats(rows, 3 * rows), { shape: [rows, 1] });
              const f = programFn(steps);
              const eager = f(x, b, s, r).dataSync();
              const jitted = ag.jit(f)(x, b, s, r).dataSync();
              const differ = Array.from(eager).findIndex((v, i) => !Object.is(v, jitted[i]));
              expect(differ, `steps ${JSON.stringify(steps)} on [${lead}, ${rows}, ${cols}]`).toBe(-1);
            });
          },
        ),
        { numRuns: 60, seed: 20261204 },
      );
    } finally {
      cpuBackend.runPointwise = realFused;
    }
    expect(fusedRuns).toBeGreaterThan(0);
    expect(generatedLoops()).toBeGreaterThan(loopsBefore);
  });

  it("runs a long float32 chain as one generated loop, shared by every shape of that structure", () => {
    const chain = (x: T) => ag.div(x, ag.add(ag.exp(ag.neg(ag.sub(ag.mul(ag.add(ag.mul(x, 1.5), 0.5), x), x))), 1));
    const before = generatedLoops();
    const jf = ag.jit(chain);
    for (const n of [1024, 4099, 1 << 18]) {
      ag.scope(() => {
        const x = ag.tensor(floats(n, n), { shape: [n] });
        expect(Array.from(jf(x).dataSync())).toEqual(Array.from(chain(x).dataSync()));
      });
    }
    expect(generatedLoops() - before).toBe(1);
  });

  it("keeps programs of one structure but other dtypes apart (a float64 one after a float32 one runs its own loop)", () => {
    const f = (x: T) => ag.gelu(ag.add(ag.mul(x, 2), 1));
    for (const dtype of ["float32", "float64"] as const) {
      ag.scope(() => {
        const x = ag.randomNormal([128, 128], { seed: 1, dtype });
        expect(Array.from(ag.jit(f)(x).dataSync())).toEqual(Array.from(f(x).dataSync()));
      });
    }
  });
});

/**
 * jit: equal to eager over the whole op table (values and VJPs, float64 to
 * 1e-12), fusion visible in the kernels launched, composition with the
 * transforms, host reads refused, and retracing bounded and reported.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import * as ag from "../../src/index.js";
import { cpuBackend } from "../../src/backends/cpu/index.js";
import { MAX_FUSED_BUFFERS } from "../../src/ir/jit.js";
import { expectClose } from "../core/close.js";
import { OP_TABLE, materialize, sampleCases } from "../core/op-table.js";
import { cotangentFor, evaluateRow } from "../core/run-row.js";

const CASES = process.env.ANCHORGRAD_FULL === "1" ? 24 : 4;
const tight = { rtol: 1e-12, atol: 1e-14 };

describe("jit equals eager over the op table (float64)", () => {
  for (const row of OP_TABLE) {
    it(row.name, () => {
      for (const c of sampleCases(row, CASES, 20261204)) {
        ag.scope(() => {
          const eager = evaluateRow(row, c);
          const xs = materialize(c);
          const isFloat = c.inputs.map((s) => s.kind === "float");
          expectClose(ag.jit((args: ag.Tensor[]) => row.fn(args, c.params))(xs), eager.value, tight, `${row.name} value`);
          if (!row.differentiable) return;
          const withFloats = (floats: ag.Tensor[]) => {
            let k = 0;
            return row.fn(
              xs.map((x, i) => (isFloat[i] ? floats[k++]! : x)),
              c.params,
            );
          };
          const pullback = ag.jit((floats: ag.Tensor[], ct: ag.Tensor) => ag.vjp(withFloats, floats)[1](ct));
          const grads = pullback(
            xs.filter((_, i) => isFloat[i]),
            cotangentFor(eager.value, 0),
          );
          grads.forEach((g, i) => expectClose(g, eager.grads![i]!, tight, `${row.name} grad ${i}`));
        });
      }
    });
  }
});

/** Kernels the cpu backend launches while `fn` runs: single-op kernels and fused programs. */
function launches(fn: () => unknown): { kernels: string[]; fused: number[] } {
  const kernels: string[] = [];
  const fused: number[] = [];
  const realRun = cpuBackend.run.bind(cpuBackend);
  const realFused = cpuBackend.runPointwise!.bind(cpuBackend);
  cpuBackend.run = ((prim, ...rest) => (kernels.push(prim), realRun(prim, ...rest))) as typeof cpuBackend.run;
  cpuBackend.runPointwise = (p, ins) => (fused.push(p.steps.length), realFused(p, ins));
  try {
    ag.scope(fn);
  } finally {
    cpuBackend.run = realRun;
    cpuBackend.runPointwise = realFused;
  }
  return { kernels, fused };
}

describe("fusion", () => {
  afterEach(() => vi.restoreAllMocks());

  it("runs gelu(x·w + b)'s elementwise tail, the bias add included, as one kernel", () => {
    const x = ag.randomNormal([8, 16], { seed: 1 }),
      w = ag.randomNormal([16, 32], { seed: 2 }),
      b = ag.randomNormal([32], { seed: 3 });
    const f = (x: ag.Tensor, w: ag.Tensor, b: ag.Tensor) => ag.gelu(ag.add(ag.matmul(x, w), b));
    const jf = ag.jit(f);
    jf(x, w, b); // compile
    const eager = launches(() => f(x, w, b));
    const jitted = launches(() => jf(x, w, b));
    expect(eager.fused).toEqual([]);
    expect(jitted.fused).toEqual([6]); // the bias add (b read every 32 elements), then mul, erf, add, mul, mul of gelu
    expect(jitted.kernels).toEqual(["matmul"]);
    expect(eager.kernels.length).toBe(7);
    expectClose(jf(x, w, b), f(x, w, b), { rtol: 0, atol: 0 }); // float32 bit-identical
  });

  it("runs rmsNorm as its one kernel, and a chain of 8 elementwise ops as one", () => {
    const x = ag.randomNormal([4, 64], { seed: 4 }),
      w = ag.ones([64]);
    expect(launches(() => ag.jit((a: ag.Tensor) => ag.rmsNorm(a, w))(x)).kernels).toEqual(["rmsNorm"]);
    const chain = ag.jit((a: ag.Tensor) => ag.tanh(ag.sub(ag.mul(ag.exp(ag.neg(ag.mul(a, a))), 0.5), ag.sigmoid(ag.add(a, 1)))));
    chain(x);
    expect(launches(() => chain(x))).toEqual({ kernels: [], fused: [8] });
  });

  it("reads per-row statistics and middle-axis blocks inside the program ([3, 5, 1] and [5, 1] against [3, 5, 7])", () => {
    const x = ag.randomNormal([3, 5, 7], { seed: 5, dtype: "float64" }),
      row = ag.randomNormal([3, 5, 1], { seed: 6, dtype: "float64" }),
      mid = ag.randomNormal([5, 1], { seed: 7, dtype: "float64" }),
      bias = ag.randomNormal([7], { seed: 8, dtype: "float64" });
    const f = (x: ag.Tensor, r: ag.Tensor, m: ag.Tensor, b: ag.Tensor) => ag.exp(ag.add(ag.mul(ag.sub(x, r), m), b));
    const jf = ag.jit(f);
    jf(x, row, mid, bias);
    expect(launches(() => jf(x, row, mid, bias))).toEqual({ kernels: [], fused: [4] });
    expectClose(jf(x, row, mid, bias), f(x, row, mid, bias), { rtol: 0, atol: 0 });
  });

  it("lets a chain's ops gather past equations that do not read them (a backward pass interleaves both)", () => {
    const x = ag.randomNormal([6, 8], { seed: 9 }),
      w = ag.randomNormal([8, 8], { seed: 10 });
    // the two halves of the chain are split by a matmul of other values in program order
    const f = (x: ag.Tensor, w: ag.Tensor) => {
      const a = ag.mul(ag.exp(x), 2);
      const m = ag.matmul(w, w);
      const b = ag.tanh(ag.add(a, x));
      return [b, m];
    };
    const jf = ag.jit(f);
    jf(x, w);
    expect(launches(() => jf(x, w))).toEqual({ kernels: ["matmul"], fused: [4] });
    jf(x, w).forEach((o, i) => expectClose(o, f(x, w)[i]!, { rtol: 0, atol: 0 }));
  });

  it("cuts a run that would bind more than MAX_FUSED_BUFFERS buffers into programs within it, with eager's values", () => {
    // twelve same-shape leaves updated side by side, as the multi-tensor optimizer does: one long run of 48 ops
    const xs = Array.from({ length: 12 }, (_, i) => ag.randomNormal([4, 64], { seed: 10 + i }));
    const update = (ls: ag.Tensor[]) => ls.map((l) => ag.add(ag.mul(ag.exp(ag.neg(l)), 0.5), l));
    const seen: number[] = [];
    const realFused = cpuBackend.runPointwise!;
    cpuBackend.runPointwise = (p, ins) => (seen.push(p.inputs.length + p.outputs.length), realFused(p, ins));
    try {
      const jf = ag.jit(update);
      const out = jf(xs);
      expect(seen.length).toBeGreaterThan(1);
      expect(seen.every((n) => n <= MAX_FUSED_BUFFERS)).toBe(true);
      expect(seen.reduce((a, b) => a + b)).toBe(12 * 2 + seen.length); // each leaf in and out, and the one 0.5 per program
      out.forEach((o, i) => expectClose(o, update(xs)[i]!, { rtol: 0, atol: 0 }));
    } finally {
      cpuBackend.runPointwise = realFused;
    }
  });
});

describe("jit composes with the transforms", () => {
  const f = (w: ag.Tensor, x: ag.Tensor) => ag.mean(ag.softplus(ag.neg(ag.matmul(x, w))));
  const w = ag.randomNormal([3], { seed: 0, dtype: "float64" });
  const x = ag.randomNormal([8, 3], { seed: 1, dtype: "float64" });

  it("jit(valueAndGrad(f)), grad(jit(f)) and nested jit equal eager", () => {
    const [v, g] = ag.valueAndGrad(f)(w, x);
    const [jv, jg] = ag.jit(ag.valueAndGrad(f))(w, x);
    expectClose(jv, v, tight);
    expectClose(jg, g, tight);
    expectClose(ag.grad(ag.jit(f))(w, x), g, tight);
    expectClose(ag.jit((a: ag.Tensor, b: ag.Tensor) => ag.jit(ag.grad(f))(a, b))(w, x), g, tight);
  });

  it("returns a value captured inside valueAndGrad (an aux read after it returns), as eager code does", () => {
    const w = ag.randomNormal([3, 4], { seed: 21, dtype: "float64" });
    const step = (p: ag.Tensor) => {
      let aux: ag.Tensor | undefined;
      const [value, g] = ag.valueAndGrad((q: ag.Tensor) => {
        aux = ag.tanh(q);
        return ag.sum(ag.mul(aux, aux));
      })(p);
      return [value, g, aux!];
    };
    const eager = step(w),
      jitted = ag.jit(step)(w);
    jitted.forEach((t, i) => expectClose(t, eager[i]!, tight));
  });

  it("keeps customVjp's rule and stopGradient inside jit", () => {
    const clipGrad = ag.customVjp(
      (t: ag.Tensor) => ag.mul(t, 1),
      (g) => [ag.clip(g, -0.01, 0.01)],
    );
    const h = (t: ag.Tensor) => ag.sum(ag.mul(clipGrad(t), ag.stopGradient(t)));
    expectClose(ag.jit(ag.grad(h))(w), ag.grad(h)(w), tight);
  });

  it("frees intermediates: memory is flat over repeated calls inside scopes", () => {
    const step = ag.jit(ag.valueAndGrad(f));
    ag.scope(() => void step(w, x));
    const before = ag.memoryStats().cpu!.tensors;
    for (let i = 0; i < 20; i++) ag.scope(() => void step(w, x));
    expect(ag.memoryStats().cpu!.tensors).toBe(before);
  });
});

describe("jit refuses what it cannot stage", () => {
  it("a host read names the op and says the value is abstract under jit", () => {
    const f = ag.jit((t: ag.Tensor) => ag.mul(t, ag.sum(t).item()));
    expect(() => f(ag.ones([2]))).toThrow(/of the output of sum \[\] float32: the value is abstract under jit/);
  });

  it("counts retraces, keys static arguments by value, and warns naming the changing argument", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const scaled = ag.jit((t: ag.Tensor, k: number) => ag.mul(t, k), { static: [1] });
    scaled(ag.ones([2]), 3);
    scaled(ag.ones([2]), 3);
    expect(scaled.traces).toBe(1);
    expect(scaled(ag.ones([2]), 4).dataSync()[0]).toBe(4);
    expect(scaled.traces).toBe(2);
    for (let n = 1; n <= 8; n++) scaled(ag.ones([n + 2]), 4);
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/traced 9 times; argument 0 \(float32\[8\]@cpu -> float32\[9\]@cpu\) changes/));
    expect(() => ag.jit((t: ag.Tensor) => t, { static: [0] })(ag.ones([1]))).toThrow(/static argument 0 holds tensors/);
  });
});

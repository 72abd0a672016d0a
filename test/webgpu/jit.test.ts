/**
 * jit on webgpu: equal to eager webgpu over the op table (float32, the
 * parity tolerances), and fused elementwise chains as one dispatch each.
 */
import { expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { OP_TABLE, materialize, sampleCases } from "../core/op-table.js";
import { cotangentFor } from "../core/run-row.js";
import { describeWebGPU, expectClose, gpu } from "./setup.js";

const CASES = process.env.ANCHORGRAD_FULL === "1" ? 16 : 3;

describeWebGPU("jit on webgpu", () => {
  for (const row of OP_TABLE) {
    it(`${row.name}: jit equals eager (values and VJPs)`, async () => {
      for (const [k, c] of sampleCases(row, CASES, 11).entries()) {
        await ag.scope(async () => {
          const xs = materialize(c, { dtype: "float32", device: "webgpu" });
          const isFloat = c.inputs.map((s) => s.kind === "float");
          const f = (args: ag.Tensor[]) => row.fn(args, c.params);
          const where = `${row.name} case ${k}`;
          const eager = f(xs);
          expectClose(await ag.jit(f)(xs).data(), await eager.data(), `${where} value`, { exact: !ag.isFloat(eager.dtype) });
          if (!row.differentiable) return;
          const withFloats = (floats: ag.Tensor[]) => {
            let i = 0;
            return f(xs.map((x, j) => (isFloat[j] ? floats[i++]! : x)));
          };
          const floats = xs.filter((_, j) => isFloat[j]);
          const ct = cotangentFor(eager, k);
          const pull = (fl: ag.Tensor[], g: ag.Tensor) => ag.vjp(withFloats, fl)[1](g);
          const [got, ref] = [ag.jit(pull)(floats, ct), pull(floats, ct)];
          for (let i = 0; i < ref.length; i++) expectClose(await got[i]!.data(), await ref[i]!.data(), `${where} gradient ${i}`);
        });
      }
    });
  }

  it("makes constants met while tracing on the traced arguments' backend, whatever backend is current", async () => {
    const x = ag.randomNormal([4], { seed: 1, device: "webgpu" });
    await ag.useBackend("cpu");
    try {
      const y = ag.jit((a: ag.Tensor) => ag.add(ag.mul(a, 2), ag.onesLike(a)))(x);
      expect(y.device).toBe("webgpu");
      expectClose(
        await y.data(),
        (await x.data()).map((v) => 2 * v + 1),
        "2x + 1",
      );
    } finally {
      await ag.useBackend("webgpu");
    }
  });

  it("runs a chain of 8 elementwise ops as one dispatch", async () => {
    const x = ag.randomNormal([1024], { seed: 3, device: "webgpu" });
    const f = (a: ag.Tensor) => ag.tanh(ag.sub(ag.mul(ag.exp(ag.neg(ag.mul(a, a))), 0.5), ag.sigmoid(ag.add(a, 1))));
    const jf = ag.jit(f);
    await jf(x).data();
    const real = gpu.runtime.dispatch.bind(gpu.runtime);
    const names: string[] = [];
    gpu.runtime.dispatch = (d) => (names.push(d.name), real(d));
    try {
      ag.scope(() => void jf(x));
      expect(names).toEqual(["fused(mul,neg,exp,mul,add,sigmoid,sub,tanh)"]);
      names.length = 0;
      ag.scope(() => void f(x));
      expect(names.length).toBe(8);
    } finally {
      gpu.runtime.dispatch = real;
    }
    expectClose(await jf(x).data(), await f(x).data(), "fused chain");
  });

  it("reads per-row statistics and middle-axis blocks inside one dispatch", async () => {
    const x = ag.randomNormal([3, 5, 7], { seed: 5, device: "webgpu" }),
      row = ag.randomNormal([3, 5, 1], { seed: 6, device: "webgpu" }),
      mid = ag.randomNormal([5, 1], { seed: 7, device: "webgpu" });
    const f = (x: ag.Tensor, r: ag.Tensor, m: ag.Tensor) => ag.exp(ag.mul(ag.sub(x, r), m));
    const jf = ag.jit(f);
    await jf(x, row, mid).data();
    const real = gpu.runtime.dispatch.bind(gpu.runtime);
    const names: string[] = [];
    gpu.runtime.dispatch = (d) => (names.push(d.name), real(d));
    try {
      ag.scope(() => void jf(x, row, mid));
      expect(names).toEqual(["fused(sub,mul,exp)"]);
    } finally {
      gpu.runtime.dispatch = real;
    }
    expectClose(await jf(x, row, mid).data(), await f(x, row, mid).data(), "per-row and middle-block broadcasts");
  });

  it("stores a matmul through its elementwise epilogue in one dispatch: gelu(x·w + b), a residual, a batched transposed product", async () => {
    const x = ag.randomNormal([8, 16], { seed: 1, device: "webgpu" }),
      w = ag.randomNormal([16, 32], { seed: 2, device: "webgpu" }),
      b = ag.randomNormal([32], { seed: 3, device: "webgpu" }),
      r = ag.randomNormal([8, 32], { seed: 4, device: "webgpu" }),
      q = ag.randomNormal([2, 3, 5, 6], { seed: 5, device: "webgpu" }),
      k = ag.randomNormal([2, 3, 7, 6], { seed: 6, device: "webgpu" }),
      s = ag.randomNormal([2, 3, 5, 1], { seed: 7, device: "webgpu" });
    type F = (...ts: ag.Tensor[]) => ag.Tensor;
    const cases: [string, F, ag.Tensor[], string[]][] = [
      ["gelu(x·w + b)", (x, w, b) => ag.gelu(ag.add(ag.matmul(x!, w!), b!)), [x, w, b], ["matmul+fused(add,mul,mul,erf,add,mul)"]],
      ["r + x·w", (r, x, w) => ag.add(r!, ag.matmul(x!, w!)), [r, x, w], ["matmul+fused(add)"]],
      [
        "(q·kᵀ − s)·0.5",
        (q, k, s) => ag.mul(ag.sub(ag.matmul(q!, k!, { transposeB: true }), s!), 0.5),
        [q, k, s],
        ["transpose", "matmul+fused(sub,mul)"],
      ],
    ];
    for (const [what, f, args, expected] of cases) {
      const jf = ag.jit(f);
      await jf(...args).data();
      const real = gpu.runtime.dispatch.bind(gpu.runtime);
      const names: string[] = [];
      gpu.runtime.dispatch = (d) => (names.push(d.name), real(d));
      try {
        ag.scope(() => void jf(...args));
      } finally {
        gpu.runtime.dispatch = real;
      }
      expect(names, what).toEqual(expected);
      expectClose(await jf(...args).data(), await f(...args).data(), what);
    }
  });
});

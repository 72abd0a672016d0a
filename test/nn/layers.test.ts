import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as ag from "../../src/index.js";
import * as nn from "../../src/nn/index.js";

const f64 = (shape: number[], seed: number) => ag.randomNormal(shape, { seed, dtype: "float64" });
const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number) => {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  expect(worst).toBeLessThanOrEqual(tol);
};

describe("linear", () => {
  it("computes x·K + b over the last axis for any leading shape, K stored [in, out]", () => {
    const p = { kernel: f64([4, 3], 1), bias: f64([3], 2) };
    const x = f64([2, 5, 4], 3);
    const y = nn.linear(p, x).dataSync();
    const K = p.kernel.dataSync(),
      b = p.bias.dataSync(),
      X = x.dataSync();
    const want = new Float64Array(2 * 5 * 3);
    for (let r = 0; r < 10; r++)
      for (let o = 0; o < 3; o++) {
        let s = b[o]!;
        for (let i = 0; i < 4; i++) s += X[r * 4 + i]! * K[i * 3 + o]!;
        want[r * 3 + o] = s;
      }
    close(y, want, 1e-12);
  });

  it("names both shapes when the input does not fit", () => {
    const p = nn.initLinear(0, 4, 3);
    expect(() => nn.linear(p, ag.zeros([2, 5]))).toThrow(/linear: input \[2, 5\] does not match kernel \[4, 3\] \(\[in, out\]\)/);
  });

  it("initialises deterministically per seed, with zero biases", () => {
    const a = nn.initLinear(7, 4, 3),
      b = nn.initLinear(7, 4, 3),
      c = nn.initLinear(8, 4, 3);
    expect(a.kernel.shape).toEqual([4, 3]);
    expect(Array.from(a.kernel.dataSync())).toEqual(Array.from(b.kernel.dataSync()));
    expect(Array.from(a.kernel.dataSync())).not.toEqual(Array.from(c.kernel.dataSync()));
    expect(Array.from(a.bias!.dataSync())).toEqual([0, 0, 0]);
    expect(nn.initLinear(7, 4, 3, { bias: false }).bias).toBeUndefined();
  });
});

describe("embedding", () => {
  it("looks rows up by id and rejects ids outside the vocabulary", () => {
    const p = {
      weight: ag.tensor([
        [0, 1],
        [10, 11],
        [20, 21],
      ]),
    };
    expect(nn.embedding(p, ag.tensor([[2, 0]], { dtype: "int32" })).arraySync()).toEqual([
      [
        [20, 21],
        [0, 1],
      ],
    ]);
    expect(() => nn.embedding(p, ag.tensor([3], { dtype: "int32" }))).toThrow(/index 3 .* out of range/);
    expect(() => nn.embedding(p, ag.tensor([1]))).toThrow(/int32/);
  });
});

describe("patchEmbed", () => {
  it("equals a direct convolution with kernel = stride = patch, tokens row-major", () => {
    const [N, C, D, P, gh, gw] = [2, 3, 5, 2, 3, 2];
    const p = { weight: f64([D, C, P, P], 4), bias: f64([D], 5) };
    const x = f64([N, C, gh * P, gw * P], 6);
    const y = nn.patchEmbed(p, x);
    expect(y.shape).toEqual([N, gh * gw, D]);
    const W = p.weight.dataSync(),
      b = p.bias.dataSync(),
      X = x.dataSync(),
      H = gh * P,
      Wd = gw * P;
    const want: number[] = [];
    for (let n = 0; n < N; n++)
      for (let r = 0; r < gh; r++)
        for (let c = 0; c < gw; c++)
          for (let d = 0; d < D; d++) {
            let s = b[d]!;
            for (let ch = 0; ch < C; ch++)
              for (let i = 0; i < P; i++)
                for (let j = 0; j < P; j++) {
                  s += W[((d * C + ch) * P + i) * P + j]! * X[((n * C + ch) * H + r * P + i) * Wd + c * P + j]!;
                }
            want.push(s);
          }
    close(y.dataSync(), want, 1e-12);
    expect(() => nn.patchEmbed(p, f64([1, 3, 5, 4], 7))).toThrow(/multiples of the patch size 2/);
  });
});

describe("MLPs", () => {
  it("swiGlu = down(silu(gate x) ⊙ up x) and geluMlp uses the exact GELU", () => {
    const x = f64([2, 4], 8);
    const s = nn.initSwiGlu(1, 4, 6, "float64");
    const want = nn.linear(s.down, ag.mul(ag.mul(nn.linear(s.gate, x), ag.sigmoid(nn.linear(s.gate, x))), nn.linear(s.up, x)));
    close(nn.swiGlu(s, x).dataSync(), want.dataSync(), 1e-14);
    const g = nn.initGeluMlp(2, 4, 6, "float64");
    const h = nn.linear(g.fc1, x);
    const exact = ag.mul(ag.mul(h, 0.5), ag.add(ag.erf(ag.div(h, Math.SQRT2)), 1));
    close(nn.geluMlp(g, x).dataSync(), nn.linear(g.fc2, exact).dataSync(), 1e-14);
  });

  it("has gradients that match finite differences (float64)", () => {
    const x = f64([3, 4], 9);
    const s = nn.initSwiGlu(3, 4, 5, "float64"),
      g = nn.initGeluMlp(4, 4, 5, "float64"),
      ln = { weight: f64([4], 10), bias: f64([4], 11) };
    const loss = (xx: ag.Tensor, gate: ag.Tensor, fc1: ag.Tensor, lnw: ag.Tensor) => {
      const h = nn.layerNorm({ ...ln, weight: lnw }, xx, 1e-5);
      return ag.sum(
        ag.mul(nn.swiGlu({ ...s, gate: { kernel: gate } }, nn.geluMlp({ ...g, fc1: { ...g.fc1, kernel: fc1 } }, h)), f64([3, 4], 12)),
      );
    };
    ag.checkGrads(loss, [x, s.gate.kernel, g.fc1.kernel, ln.weight], { atol: 1e-6, rtol: 1e-5 });
  });
});

describe("norm layers", () => {
  it("rmsNorm and layerNorm use their params and eps", () => {
    const x = ag.tensor([[3, 4]], { dtype: "float64" });
    const r = nn.rmsNorm({ weight: ag.tensor([1, 2], { dtype: "float64" }) }, x, 0).dataSync();
    const rms = Math.sqrt(12.5);
    close(r, [3 / rms, 8 / rms], 1e-14);
    const l = nn.layerNorm(nn.initLayerNorm(2, "float64"), x, 0).dataSync();
    close(l, [-1, 1], 1e-14);
  });
});

describe("initialisers", () => {
  it("give each name its own stream", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e6 }), (seed) => {
        expect(nn.subSeed(seed, "a")).not.toBe(nn.subSeed(seed, "b"));
        expect(nn.subSeed(seed, "a")).toBe(nn.subSeed(seed, "a"));
      }),
      { numRuns: 20 },
    );
  });
});

import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as ag from "../../src/index.js";
import * as nn from "../../src/nn/index.js";

const f64 = (shape: number[], seed: number) => ag.randomNormal(shape, { seed, dtype: "float64" });
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let w = 0;
  for (let i = 0; i < a.length; i++) w = Math.max(w, Math.abs(a[i]! - b[i]!));
  return w;
};

describe("RoPE", () => {
  it("matches the direct formula: pair (i, i + d/2) rotated by pos·θ^(-2i/d)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 4 }).map((h) => 2 * h),
        fc.constantFrom(10000, 1e6),
        fc.integer({ min: 0, max: 1e6 }),
        (start, T, d, theta, seed) => {
          const x = f64([2, T, d], seed);
          const got = nn.applyRope(x, nn.ropeTables(start, T, d, theta, "float64")).dataSync();
          const X = x.dataSync(),
            want = new Float64Array(X.length);
          for (let b = 0; b < 2; b++)
            for (let t = 0; t < T; t++)
              for (let i = 0; i < d / 2; i++) {
                const a = (start + t) / theta ** ((2 * i) / d),
                  o = (b * T + t) * d;
                const x1 = X[o + i]!,
                  x2 = X[o + i + d / 2]!;
                want[o + i] = x1 * Math.cos(a) - x2 * Math.sin(a);
                want[o + i + d / 2] = x2 * Math.cos(a) + x1 * Math.sin(a);
              }
          expect(maxDiff(got, want)).toBeLessThan(1e-12);
        },
      ),
      { numRuns: 25 },
    );
  });

  it("makes q·k depend only on the relative position", () => {
    const q = f64([1, 1, 8], 1),
      k = f64([1, 1, 8], 2);
    const dot = (m: number, n: number) =>
      ag
        .sum(ag.mul(nn.applyRope(q, nn.ropeTables(m, 1, 8, 1e4, "float64")), nn.applyRope(k, nn.ropeTables(n, 1, 8, 1e4, "float64"))))
        .item();
    expect(Math.abs(dot(7, 3) - dot(104, 100))).toBeLessThan(1e-12);
    expect(Math.abs(dot(7, 3) - dot(3, 7))).toBeGreaterThan(1e-6);
  });

  it("rejects an odd head dimension and mismatched tables", () => {
    expect(() => nn.ropeTables(0, 2, 5, 1e4)).toThrow(/must be even/);
    expect(() => nn.applyRope(ag.zeros([1, 3, 4]), nn.ropeTables(0, 2, 4, 1e4))).toThrow(/do not match/);
  });
});

/** Attention written as loops straight from its definition, with head h reading KV head ⌊h/G⌋. */
function naiveAttention(q: ag.Tensor, k: ag.Tensor, v: ag.Tensor, causal: boolean): Float64Array {
  const [B, H, T, d] = q.shape as number[] as [number, number, number, number];
  const [, KV, S] = k.shape as number[] as [number, number, number];
  const Q = q.dataSync(),
    K = k.dataSync(),
    V = v.dataSync(),
    out = new Float64Array(B * H * T * d);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let t = 0; t < T; t++) {
        const kh = Math.floor(h / (H / KV)),
          s = new Float64Array(S).fill(-Infinity);
        for (let j = 0; j < S; j++) {
          if (causal && j > S - T + t) continue;
          let dot = 0;
          for (let i = 0; i < d; i++) dot += Q[((b * H + h) * T + t) * d + i]! * K[((b * KV + kh) * S + j) * d + i]!;
          s[j] = dot / Math.sqrt(d);
        }
        const m = Math.max(...s);
        const w = s.map((x) => Math.exp(x - m)),
          z = w.reduce((a, c) => a + c, 0);
        for (let i = 0; i < d; i++) {
          let acc = 0;
          for (let j = 0; j < S; j++) acc += (w[j]! / z) * V[((b * KV + kh) * S + j) * d + i]!;
          out[((b * H + h) * T + t) * d + i] = acc;
        }
      }
  return out;
}

describe("dotProductAttention", () => {
  it("equals a naive loop for multi-head and grouped-query heads, causal or not, with S ≥ T", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 }),
        fc.constantFrom([1, 1], [2, 2], [4, 2], [4, 1], [6, 3]),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 3 }),
        fc.constantFrom(2, 4),
        fc.boolean(),
        fc.integer({ min: 0, max: 1e6 }),
        (B, [H, KV], T, extra, d, causal, seed) => {
          const S = T + extra;
          const q = f64([B, H!, T, d], seed),
            k = f64([B, KV!, S, d], seed + 1),
            v = f64([B, KV!, S, d], seed + 2);
          const got = nn.dotProductAttention(q, k, v, { causal }).dataSync();
          expect(maxDiff(got, naiveAttention(q, k, v, causal))).toBeLessThan(1e-12);
        },
      ),
      { numRuns: 30 },
    );
  });

  it("causalMask lets query i see keys j ≤ tk - tq + i", () => {
    expect(nn.causalMask(2, 4).arraySync()).toEqual([
      [0, 0, 0, -Infinity],
      [0, 0, 0, 0],
    ]);
    expect(nn.causalMask(3, 3).arraySync()).toEqual([
      [0, -Infinity, -Infinity],
      [0, 0, -Infinity],
      [0, 0, 0],
    ]);
  });

  it("rejects head counts that do not divide", () => {
    expect(() => nn.dotProductAttention(ag.zeros([1, 3, 2, 4]), ag.zeros([1, 2, 2, 4]), ag.zeros([1, 2, 2, 4]), { causal: false })).toThrow(
      /H a multiple of KV/,
    );
  });
});

const shape = (qkNorm: boolean): nn.AttentionShape => ({ dim: 8, heads: 4, kvHeads: 2, headDim: 4, qkvBias: !qkNorm, qkNorm });

describe("selfAttention", () => {
  for (const qkNorm of [false, true]) {
    it(`decoding with the KV cache gives the logits of a full recompute (${qkNorm ? "Qwen3 q/k norm" : "Qwen2 biases"})`, () => {
      const p = nn.initAttention(5, shape(qkNorm), "float64");
      const x = f64([2, 7, 8], 6);
      const opts = { heads: 4, kvHeads: 2, causal: true };
      const full = nn.selfAttention(p, x, { ...opts, rope: nn.ropeTables(0, 7, 4, 1e6, "float64") }).y;
      // prefill 4 positions, then one at a time
      let { y, cache } = nn.selfAttention(p, ag.slice(x, [0, 0, 0], [2, 4, 8]), { ...opts, rope: nn.ropeTables(0, 4, 4, 1e6, "float64") });
      const parts = [y];
      for (let t = 4; t < 7; t++) {
        const step = nn.selfAttention(p, ag.slice(x, [0, t, 0], [2, t + 1, 8]), {
          ...opts,
          rope: nn.ropeTables(t, 1, 4, 1e6, "float64"),
          cache,
        });
        parts.push(step.y);
        cache = step.cache;
      }
      expect(cache.k.shape).toEqual([2, 2, 7, 4]);
      expect(maxDiff(ag.concat(parts, 1).dataSync(), full.dataSync())).toBeLessThan(1e-12);
    });
  }

  it("has gradients that match finite differences (float64, GQA, q/k norm, RoPE)", () => {
    const p = nn.initAttention(9, shape(true), "float64");
    const x = f64([1, 3, 8], 10),
      w = f64([1, 3, 8], 11);
    const rope = nn.ropeTables(2, 3, 4, 1e4, "float64");
    const loss = (xx: ag.Tensor, qw: ag.Tensor, kn: ag.Tensor, vw: ag.Tensor) =>
      ag.sum(
        ag.mul(
          nn.selfAttention({ ...p, q: { kernel: qw }, kNorm: { weight: kn }, v: { kernel: vw } }, xx, {
            heads: 4,
            kvHeads: 2,
            causal: true,
            rope,
          }).y,
          w,
        ),
      );
    ag.checkGrads(loss, [x, p.q.kernel, ag.add(p.kNorm!.weight, f64([4], 12)), p.v.kernel], { atol: 1e-6, rtol: 1e-5 });
  });
});

import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as ag from "../../src/index.js";
import { iv, jitter, maxAbsDiff, twoImagePrompt } from "./helpers.js";

describe("pixel shuffle", () => {
  it("v2 maps (row, col, c) to token (row/2)·(gw/2) + col/2, channel (row%2)·2C + (col%2)·C + c, as INTERNVL.md", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        (N, hh, hw, C) => {
          const gh = 2 * hh,
            gw = 2 * hw;
          const x = ag.arange(N * gh * gw * C, { dtype: "float32" });
          const y = iv.pixelShuffle(ag.reshape(x, [N, gh, gw, C]), 2, "v2");
          expect(y.shape).toEqual([N, hh * hw, 4 * C]);
          const Y = y.dataSync();
          for (let n = 0; n < N; n++)
            for (let r = 0; r < gh; r++)
              for (let col = 0; col < gw; col++)
                for (let c = 0; c < C; c++) {
                  const t = Math.floor(r / 2) * (gw / 2) + Math.floor(col / 2),
                    ch = (r % 2) * 2 * C + (col % 2) * C + c;
                  expect(Y[(n * hh * hw + t) * 4 * C + ch]).toBe(((n * gh + r) * gw + col) * C + c);
                }
        },
      ),
      { numRuns: 20 },
    );
  });

  it("v1 orders tokens column-major with the same channels; the InternVL grid 32×32×1024 gives 256×4096", () => {
    const x = ag.reshape(ag.arange(4 * 2 * 1, { dtype: "float32" }), [1, 4, 2, 1]);
    // v1: token t = (col/2)·(gh/2) + row/2
    expect(iv.pixelShuffle(x, 2, "v1").arraySync()).toEqual([
      [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
      ],
    ]);
    expect(iv.pixelShuffle(ag.zeros([1, 32, 32, 1024]), 2).shape).toEqual([1, 256, 4096]);
    expect(() => iv.pixelShuffle(ag.zeros([1, 3, 4, 2]), 2)).toThrow(/multiples of 2/);
  });
});

describe("position embeddings", () => {
  it("keep the stored grid as is and resize it bicubically for another grid", () => {
    const pos = ag.randomNormal([1, 1 + 16, 3], { seed: 1 });
    expect(iv.positionEmbeddingFor(pos, 4, 4)).toBe(pos);
    const big = iv.positionEmbeddingFor(pos, 6, 2);
    expect(big.shape).toEqual([1, 13, 3]);
    // the class token's row is untouched
    expect(Array.from(big.dataSync().slice(0, 3))).toEqual(Array.from(pos.dataSync().slice(0, 3)));
  });

  it("bicubic weights: identity at the same size, rows summing to one, torch's known 2→4 coefficients", () => {
    const id = iv.bicubicMatrix(5, 5);
    id.forEach((w, k) => expect(w).toBeCloseTo(Math.floor(k / 5) === k % 5 ? 1 : 0, 12));
    for (const [a, b] of [
      [4, 7],
      [8, 3],
      [2, 9],
    ] as const) {
      const m = iv.bicubicMatrix(a, b);
      for (let i = 0; i < b; i++) expect(m.slice(i * a, (i + 1) * a).reduce((s, v) => s + v, 0)).toBeCloseTo(1, 12);
    }
    // torch 1.13: F.interpolate(torch.tensor([[[[0., 1.]]]]), size=(1, 4), mode="bicubic", align_corners=False)
    const m = iv.bicubicMatrix(2, 4);
    expect(Array.from({ length: 4 }, (_, i) => m[i * 2 + 1]!)).toEqual([-0.10546875, 0.2265625, 0.7734375, 1.10546875]);
  });
});

describe("forward", () => {
  const c = iv.preset("tiny");
  const params = jitter(iv.initParams(c, 3), 4);

  it("puts the k-th <IMG_CONTEXT> position's embedding from the k-th image token, row by row", () => {
    const ids = twoImagePrompt(c, 2, 1);
    const px = ag.randomNormal([3, 3, 56, 56], { seed: 5 });
    const emb = iv.embedInputs(c, params, { inputIds: ids, pixelValues: px });
    const feats = iv.imageFeatures(c, params, px).dataSync(),
      E = emb.dataSync(),
      text = params.language.embed.weight.dataSync();
    const d = c.text.hiddenSize,
      I = ids.dataSync();
    let k = 0;
    I.forEach((id, pos) => {
      const row = Array.from(E.slice(pos * d, (pos + 1) * d));
      const want = id === c.imageTokenId ? feats.slice(k++ * d, k * d) : text.slice(id * d, (id + 1) * d);
      expect(row).toEqual(Array.from(want));
    });
    expect(k).toBe(48);
  });

  it("says how many image tokens and features there are when they disagree", () => {
    const ids = twoImagePrompt(c, 2, 1);
    expect(() => iv.forward(c, params, { inputIds: ids, pixelValues: ag.zeros([2, 3, 56, 56]) })).toThrow(
      /inputIds hold 48 <IMG_CONTEXT> tokens \(id \d+\) but pixelValues \[2, 3, 56, 56\] give 2 tiles × 16 = 32 image tokens/,
    );
    expect(() => iv.forward(c, params, { inputIds: ids })).toThrow(/48 <IMG_CONTEXT> tokens .* but no pixelValues/);
    expect(() => iv.forward(c, params, { inputIds: ag.tensor([[1, 9999]], { dtype: "int32" }) })).toThrow(
      /token id 9999 at \[0, 1\] is outside the vocabulary of 285/,
    );
    expect(() => iv.forward(c, params, { inputIds: ag.tensor([[1, 2]]) })).toThrow(/inputIds must be int32/);
    expect(() => iv.forward(c, params, { inputIds: ag.tensor([[1]], { dtype: "int32" }), pixelValues: ag.zeros([1, 3, 50, 56]) })).toThrow(
      /multiples of 7/,
    );
  });

  it("runs images of another size through resized position embeddings (42 px: a 6×6 grid, 9 tokens)", () => {
    const ids = twoImagePrompt(c, 1, 1, 9);
    const logits = iv.forward(c, params, { inputIds: ids, pixelValues: ag.randomNormal([2, 3, 42, 42], { seed: 6 }) });
    expect(logits.shape).toEqual([2, ids.shape[1], c.text.vocabSize]);
    expect(logits.dataSync().every(Number.isFinite)).toBe(true);
  });

  it("is differentiable end to end: valueAndGrad reaches every parameter", () => {
    const ids = twoImagePrompt(c, 1, 1);
    const px = ag.randomNormal([2, 3, 56, 56], { seed: 7 });
    const loss = (p: typeof params) => ag.mean(ag.logSoftmax(iv.forward(c, p, { inputIds: ids, pixelValues: px })));
    const [v, g] = ag.valueAndGrad(loss)(params);
    expect(Number.isFinite(v.item())).toBe(true);
    const leaves = ag.treeLeaves(g as never),
      ref = ag.treeLeaves(params as never);
    expect(leaves.length).toBe(ref.length);
    leaves.forEach((t, i) => expect(t.shape).toEqual(ref[i]!.shape));
    // vision and projector parameters get non-zero gradients through the image tokens
    expect(
      maxAbsDiff(g.vision.layers[0]!.attn.qkv.kernel.dataSync(), new Float32Array(g.vision.layers[0]!.attn.qkv.kernel.size)),
    ).toBeGreaterThan(0);
    expect(maxAbsDiff(g.vision.positionEmbedding.dataSync(), new Float32Array(g.vision.positionEmbedding.size))).toBeGreaterThan(0);
  });

  it("has gradients that match finite differences through image and text paths (float64)", () => {
    const tiny = { ...c, vision: { ...c.vision, numLayers: 1 }, text: { ...c.text, numLayers: 1 } };
    const p64 = jitter(iv.initParams(tiny, 8, "float64"), 9);
    const px = ag.randomNormal([1, 3, 42, 42], { seed: 10, dtype: "float64" });
    const w = ag.randomNormal([2, twoImagePrompt(tiny, 1, 0, 9).shape[1]!, tiny.text.vocabSize], { seed: 11, dtype: "float64" });
    const f = (pos: ag.Tensor, qkv: ag.Tensor, fc1: ag.Tensor, q: ag.Tensor) => {
      const p = {
        ...p64,
        vision: {
          ...p64.vision,
          positionEmbedding: pos,
          layers: [
            { ...p64.vision.layers[0]!, attn: { ...p64.vision.layers[0]!.attn, qkv: { ...p64.vision.layers[0]!.attn.qkv, kernel: qkv } } },
          ],
        },
        projector: { ...p64.projector, fc1: { ...p64.projector.fc1, kernel: fc1 } },
        language: {
          ...p64.language,
          layers: [
            { ...p64.language.layers[0]!, attn: { ...p64.language.layers[0]!.attn, q: { ...p64.language.layers[0]!.attn.q, kernel: q } } },
          ],
        },
      };
      return ag.sum(ag.mul(iv.forward(tiny, p, { inputIds: twoImagePrompt(tiny, 1, 0, 9), pixelValues: px }), w));
    };
    const l0 = p64.vision.layers[0]!,
      t0 = p64.language.layers[0]!;
    ag.checkGrads(f, [p64.vision.positionEmbedding, l0.attn.qkv.kernel, p64.projector.fc1.kernel, t0.attn.q.kernel], {
      atol: 1e-6,
      rtol: 1e-5,
    });
  });
});

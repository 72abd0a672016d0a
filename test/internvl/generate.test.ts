import { describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { iv, jitter, maxAbsDiff, tempDir, twoImagePrompt } from "./helpers.js";

const c = iv.preset("tiny-qwen3");
const params = jitter(iv.initParams(c, 21), 22, 0.3);
const model = { config: c, params, tokenizer: null };
const px = ag.randomNormal([3, 3, 56, 56], { seed: 23 });
const prompt = twoImagePrompt(c, 2, 1);
const V = c.text.vocabSize;

describe("KV cache", () => {
  it("prefill + one-token steps give the logits of recomputing the whole sequence", () => {
    const [B, T] = prompt.shape as [number, number];
    const extra = ag.tensor(
      [
        [3, 4, 5],
        [6, 7, 8],
      ],
      { dtype: "int32" },
    );
    const full = iv.forward(c, params, { inputIds: ag.concat([prompt, extra], 1), pixelValues: px }).dataSync();
    let step = iv.forwardWithCache(c, params, { inputIds: prompt, pixelValues: px });
    const got = [step.logits];
    for (let k = 0; k < 3; k++) {
      step = iv.forwardWithCache(c, params, { inputIds: ag.slice(extra, [0, k], [B, k + 1]) }, { cache: step.cache });
      got.push(step.logits);
    }
    expect(step.cache.length).toBe(T + 3);
    expect(maxAbsDiff(ag.concat(got, 1).dataSync(), full)).toBeLessThan(2e-5);
  });
});

/** Greedy decoding by recomputing everything each step: the reference for the cached loop. */
function greedyByRecompute(n: number): number[][] {
  let ids = prompt;
  const out: number[][] = [[], []];
  for (let k = 0; k < n; k++) {
    const logits = iv.forward(c, params, { inputIds: ids, pixelValues: px });
    const T = ids.shape[1]!;
    const last = ag.argmax(ag.slice(logits, [0, T - 1, 0], [2, T, V]), -1).dataSync() as Int32Array;
    out[0]!.push(last[0]!);
    out[1]!.push(last[1]!);
    ids = ag.concat([ids, ag.tensor([[last[0]!], [last[1]!]], { dtype: "int32" })], 1);
  }
  return out;
}

describe("generate", () => {
  it("greedy decoding with the cache picks the tokens a full recompute picks", async () => {
    const r = await iv.generate(model, { inputIds: prompt, pixelValues: px, maxNewTokens: 6, stopTokenIds: [] });
    expect(r.tokens).toEqual(greedyByRecompute(6));
    expect(r.stats.newTokens).toBe(12);
    expect(r.stats.tokensPerSecond).toBeGreaterThan(0);
    expect(r.text).toBeNull();
  });

  it("stops each row at its first stop token, and keeps memory flat", async () => {
    const free = (await iv.generate(model, { inputIds: prompt, pixelValues: px, maxNewTokens: 4, stopTokenIds: [] })).tokens;
    const stop = free[0]![free[0]!.length - 1]!;
    const until = (row: number[]) => (row.includes(stop) ? row.slice(0, row.indexOf(stop) + 1) : row);
    const before = ag.memoryStats().cpu?.tensors ?? 0;
    const r = await iv.generate(model, { inputIds: prompt, pixelValues: px, maxNewTokens: 4, stopTokenIds: [stop] });
    expect(r.tokens).toEqual(free.map(until));
    expect(ag.memoryStats().cpu?.tensors ?? 0).toBe(before);
  });

  it("samples reproducibly from a seed; top-p → 0 is greedy", async () => {
    const opts = { inputIds: prompt, pixelValues: px, maxNewTokens: 5, temperature: 1.5, stopTokenIds: [] };
    const a = await iv.generate(model, { ...opts, seed: 1 });
    const b = await iv.generate(model, { ...opts, seed: 1 });
    const others = await Promise.all([2, 3, 4].map((seed) => iv.generate(model, { ...opts, seed })));
    expect(a.tokens).toEqual(b.tokens);
    expect(others.some((o) => JSON.stringify(o.tokens) !== JSON.stringify(a.tokens))).toBe(true);
    const nucleus = await iv.generate(model, { ...opts, seed: 1, topP: 1e-9 });
    expect(nucleus.tokens).toEqual(greedyByRecompute(5));
  });

  it("pickToken samples the tempered softmax restricted to the nucleus", () => {
    const logits = [Math.log(0.5), Math.log(0.3), Math.log(0.2)];
    expect(iv.pickToken(logits, 0, 1, 0.99)).toBe(0);
    // cumulative 0.5, 0.8, 1.0
    expect([0.1, 0.49, 0.51, 0.79, 0.81].map((u) => iv.pickToken(logits, 1, 1, u))).toEqual([0, 0, 1, 1, 2]);
    // top-p 0.7 keeps {0, 1}, renormalised to 0.625 / 0.375
    expect([0.6, 0.63, 0.99].map((u) => iv.pickToken(logits, 1, 0.7, u))).toEqual([0, 1, 1]);
  });

  it("refuses a prompt longer than the context", async () => {
    const short = { ...c, text: { ...c.text, maxPositionEmbeddings: 40 } };
    await expect(iv.generate({ ...model, config: short }, { inputIds: prompt, pixelValues: px, maxNewTokens: 4 })).rejects.toThrow(
      /the prompt has \d+ tokens; with 4 new ones that exceeds the context of 40 positions/,
    );
  });

  it("decodes text and stops at <|im_end|> with a tokenizer", async () => {
    const dir = tempDir("gen");
    const m = await iv.createModel(dir, { preset: "tiny", layout: "original", seed: 3 });
    const ids = iv.encodePrompt(m.tokenizer!, {
      template: "internvl2_5",
      system: "",
      question: "What color is the circle?",
      numImageToken: 16,
      numTiles: [1],
    });
    const imEnd = m.tokenizer!.specialIds.imEnd;
    // a bias on the head makes <|im_end|> the favourite token
    const lmHead = {
      kernel: m.params.language.lmHead!.kernel,
      bias: ag.mul(ag.oneHot(ag.tensor(imEnd, { dtype: "int32" }), m.config.text.vocabSize), 50),
    };
    const params2 = { ...m.params, language: { ...m.params.language, lmHead } };
    const r = await iv.generate(
      { ...m, params: params2 },
      { inputIds: ag.tensor([ids], { dtype: "int32" }), pixelValues: ag.zeros([1, 3, 56, 56]), maxNewTokens: 10 },
    );
    expect(r.tokens[0]).toEqual([imEnd]);
    expect(r.text).toEqual([""]);
  });
});

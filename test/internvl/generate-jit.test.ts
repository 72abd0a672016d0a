/**
 * generate's compiled passes (src/models/internvl/jitted.ts): the prefill
 * jitted per prompt-length bucket, the decoding step jitted once over a
 * fixed-capacity KV cache. Greedy tokens equal the eager loop's, float64
 * logits equal them bit for bit, and the trace counts show the bucketing.
 */
import { describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { decodeStep, generationPrograms, lengthBucket, prefill, stepInputs, withCapacity } from "../../src/models/internvl/jitted.js";
import { embedIndex } from "../../src/models/internvl/model.js";
import { iv, jitter, twoImagePrompt } from "./helpers.js";

const base = iv.preset("tiny-qwen3");
const params = jitter(iv.initParams(base, 21), 22, 0.3);
const px = ag.randomNormal([3, 3, 56, 56], { seed: 23 });
const prompt = twoImagePrompt(base, 2, 1);
const [B, T] = prompt.shape as [number, number];

/** A config object of its own, so that its programs (cached per config) start with no traces. */
const fresh = () => ({ ...base });

describe("lengthBucket", () => {
  it("pads to multiples of 16 up to 128, then of an eighth of the next power of two", () => {
    expect([1, 16, 17, 100, 128, 129, 200, 256, 257, 1000, 1025].map(lengthBucket)).toEqual([
      16, 16, 32, 112, 128, 160, 224, 256, 320, 1024, 1280,
    ]);
    for (let n = 1; n < 5000; n++) {
      expect(lengthBucket(n)).toBeGreaterThanOrEqual(n);
      expect(lengthBucket(n)).toBeLessThan(Math.max(n + 16, 1.25 * n));
      expect(lengthBucket(n + 1)).toBeGreaterThanOrEqual(lengthBucket(n));
    }
  });
});

describe("compiled generation passes", () => {
  it("float64: the padded prefill and the fixed-capacity steps give the eager cached loop's logits bit for bit", () => {
    const c = fresh();
    const p64 = ag.treeMap((t: ag.Tensor) => ag.cast(t, "float64"), params as never) as typeof params;
    const px64 = ag.cast(px, "float64");
    const Tp = lengthBucket(T),
      S = lengthBucket(T + 9);
    expect(Tp).toBeGreaterThan(T); // the prompt really is padded
    const ids = prompt.dataSync() as Int32Array;
    const padded = new Int32Array(B * Tp);
    for (let b = 0; b < B; b++) padded.set(ids.subarray(b * T, (b + 1) * T), b * Tp);
    const index = embedIndex(c, padded, 3 * iv.tokensPerTile(c), "3 tiles");
    const programs = generationPrograms(c);
    for (const compiled of [false, true]) {
      const pre = compiled ? programs.prefill : (p: typeof params, x: Parameters<typeof prefill>[2]) => prefill(c, p, x);
      const step = compiled
        ? programs.step
        : (p: typeof params, x: ReturnType<typeof stepInputs>, k: ag.nn.KVCache[]) => decodeStep(c, p, x, k);
      let eager = iv.forwardWithCache(c, p64, { inputIds: prompt, pixelValues: px64 }, { lastOnly: true });
      let got = pre(p64, {
        inputIds: ag.tensor(padded, { shape: [B, Tp], dtype: "int32" }),
        pixelValues: px64,
        embedIndex: ag.tensor(index, { dtype: "int32" }),
        last: ag.tensor([T - 1, Tp + T - 1], { dtype: "int32" }),
      });
      expect(got.cache[0]!.k.shape[2]).toBe(Tp);
      got = { ...got, cache: withCapacity(got.cache, S) };
      expect(Array.from(got.logits.dataSync())).toEqual(Array.from(eager.logits.dataSync()));
      for (let k = 0; k < 8; k++) {
        const next = Int32Array.from([3 + k, 40 - k]);
        eager = iv.forwardWithCache(
          c,
          p64,
          { inputIds: ag.tensor(next, { shape: [B, 1], dtype: "int32" }) },
          { cache: eager.cache, lastOnly: true },
        );
        got = step(p64, stepInputs(c, next, T + k, S, "float64", "cpu"), got.cache);
        expect(Array.from(got.logits.dataSync()), `step ${k}${compiled ? " (jit)" : ""}`).toEqual(Array.from(eager.logits.dataSync()));
      }
    }
    expect(programs.prefill.traces).toBe(1);
    expect(programs.step.traces).toBe(1);
  });

  it("greedy: 20 tokens pick what the eager loop picks, with one prefill and one decoding-step trace", async () => {
    const model = { config: fresh(), params, tokenizer: null };
    const opts = { inputIds: prompt, pixelValues: px, maxNewTokens: 20, stopTokenIds: [] };
    const eager = await iv.generate(model, { ...opts, jit: false });
    const compiled = await iv.generate(model, opts);
    expect(compiled.tokens).toEqual(eager.tokens);
    expect(compiled.tokens[0]).toHaveLength(20);
    const programs = generationPrograms(model.config);
    expect(programs.prefill.traces).toBe(1);
    expect(programs.step.traces).toBe(1); // 19 steps, one program
  });

  it("prompts of other lengths in the same bucket reuse both programs; another token budget reuses the prefill", async () => {
    const model = { config: fresh(), params, tokenizer: null };
    const programs = generationPrograms(model.config);
    // the same prompt cut by 1, 2 and 3 trailing words: T - 3 .. T share a prefill bucket and a cache capacity
    const lengths = [T, T - 1, T - 2, T - 3];
    expect(new Set(lengths.map(lengthBucket)).size).toBe(1);
    expect(new Set(lengths.map((n) => lengthBucket(n + 8))).size).toBe(1);
    for (const n of lengths) {
      const ids = ag.slice(prompt, [0, 0], [B, n]);
      const opts = { inputIds: ids, pixelValues: px, maxNewTokens: 8, stopTokenIds: [] };
      const compiled = await iv.generate(model, opts);
      expect(compiled.tokens).toEqual((await iv.generate(model, { ...opts, jit: false })).tokens);
    }
    expect(programs.prefill.traces).toBe(1);
    expect(programs.step.traces).toBe(1);
    // 40 new tokens need a bigger cache: a new decoding step, the same prefill
    expect(lengthBucket(T + 40)).toBeGreaterThan(lengthBucket(T + 8));
    await iv.generate(model, { inputIds: prompt, pixelValues: px, maxNewTokens: 40, stopTokenIds: [] });
    expect(programs.prefill.traces).toBe(1);
    expect(programs.step.traces).toBe(2);
  });

  it("a text-only prompt, sampling from a seed, stop tokens and flat memory", async () => {
    const model = { config: fresh(), params, tokenizer: null };
    const text = ag.tensor(
      [
        [5, 6, 7, 8, 9],
        [10, 11, 12, 13, 14],
      ],
      { dtype: "int32" },
    );
    const greedy = { inputIds: text, maxNewTokens: 6, stopTokenIds: [] };
    expect((await iv.generate(model, greedy)).tokens).toEqual((await iv.generate(model, { ...greedy, jit: false })).tokens);
    const sampled = { ...greedy, temperature: 1.5, seed: 4 };
    expect((await iv.generate(model, sampled)).tokens).toEqual((await iv.generate(model, { ...sampled, jit: false })).tokens);
    const free = (await iv.generate(model, greedy)).tokens;
    const stop = free[1]![2]!;
    const before = ag.memoryStats().cpu?.tensors ?? 0;
    const r = await iv.generate(model, { ...greedy, stopTokenIds: [stop] });
    expect(r.tokens[1]).toEqual(free[1]!.slice(0, free[1]!.indexOf(stop) + 1));
    expect(ag.memoryStats().cpu?.tensors ?? 0).toBe(before);
  });

  it("refuses what the eager path refuses: image tokens without pixels, ids outside the vocabulary", async () => {
    const model = { config: fresh(), params, tokenizer: null };
    await expect(iv.generate(model, { inputIds: prompt, maxNewTokens: 2 })).rejects.toThrow(/<IMG_CONTEXT> tokens .* but no pixelValues/);
    const bad = ag.tensor([[1, 2, base.text.vocabSize]], { dtype: "int32" });
    await expect(iv.generate(model, { inputIds: bad, maxNewTokens: 2 })).rejects.toThrow(/outside the vocabulary/);
  });
});

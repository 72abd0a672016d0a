import { readFileSync, writeFileSync, truncateSync, statSync, mkdirSync, copyFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { iv, jitter, tempDir, twoImagePrompt } from "./helpers.js";

const bits = (t: ag.Tensor) => Array.from(new Uint32Array(Float32Array.from(t.dataSync()).buffer));

describe("init-model → load → forward", () => {
  for (const layout of ["original", "hf"] as const) {
    for (const preset of ["tiny", "tiny-qwen3"]) {
      it(`${preset}, ${layout} layout`, async () => {
        const dir = tempDir(`${preset}-${layout}`);
        const made = await iv.createModel(dir, { preset, layout, seed: 11 });
        const cfg = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
        expect(Object.keys(cfg)).toContain(layout === "original" ? "llm_config" : "text_config");
        const m = await iv.load(dir);
        expect(m.config).toEqual(made.config);
        expect(m.tokenizer!.specialIds.imgContext).toBe(m.config.imageTokenId);
        const ids = twoImagePrompt(m.config, 2, 1);
        const logits = iv.forward(m.config, m.params, { inputIds: ids, pixelValues: ag.randomNormal([3, 3, 56, 56], { seed: 1 }) });
        expect(logits.shape).toEqual([2, ids.shape[1], m.config.text.vocabSize]);
        // the same seed gives the same model whatever the layout
        const again = iv.initParams(made.config, 11);
        ag.treeLeaves(m.params as never).forEach((t, i) => expect(bits(t)).toEqual(bits(ag.treeLeaves(again as never)[i]!)));
      });
    }
  }
});

describe("save / load", () => {
  it("round-trips float32 bit for bit, across layouts", async () => {
    const a = tempDir("rt-a"),
      b = tempDir("rt-b"),
      c0 = tempDir("rt-c");
    await iv.createModel(a, { preset: "tiny-qwen3", layout: "original", seed: 2 });
    const m = await iv.load(a);
    const trained = jitter(m.params, 3);
    await iv.save(b, m.config, trained, { layout: "hf", tokenizerFrom: a });
    const back = await iv.load(b);
    expect(back.config).toEqual({ ...m.config, layout: "hf" });
    const want = ag.treeLeaves(trained as never),
      got = ag.treeLeaves(back.params as never);
    expect(got.length).toBe(want.length);
    got.forEach((t, i) => expect(bits(t)).toEqual(bits(want[i]!)));
    await iv.save(c0, back.config, back.params, { layout: "original", tokenizerFrom: b });
    expect(readFileSync(join(c0, "model.safetensors")).equals(readFileSync(join(a, "model.safetensors")))).toBe(false);
    const third = await iv.load(c0);
    ag.treeLeaves(third.params as never).forEach((t, i) => expect(bits(t)).toEqual(bits(want[i]!)));
  });

  it("writes bf16 that loads and re-saves to the same bytes", async () => {
    const a = tempDir("bf-a"),
      b = tempDir("bf-b");
    const m = await iv.createModel(a, { preset: "tiny", layout: "hf", seed: 4, dtype: "BF16" });
    expect(JSON.parse(readFileSync(join(a, "config.json"), "utf8")).torch_dtype).toBe("bfloat16");
    expect(statSync(join(a, "model.safetensors")).size).toBeLessThan(iv.parameterCount(m.config) * 2 + 40_000);
    const back = await iv.load(a);
    await iv.save(b, back.config, back.params, { dtype: "BF16" });
    expect(readFileSync(join(b, "model.safetensors")).equals(readFileSync(join(a, "model.safetensors")))).toBe(true);
  });

  it("loads the older transformers spelling and ties a missing lm_head", async () => {
    const a = tempDir("legacy");
    const made = await iv.createModel(a, { preset: "tiny", layout: "hf", seed: 5 });
    const named = iv.checkpointTensors(made.config, made.params, "hf");
    const legacy = Object.fromEntries(
      Object.entries(named)
        .filter(([n]) => n !== "lm_head.weight")
        .map(([n, t]) => [iv.hfLegacyName(n), t]),
    );
    expect(Object.keys(legacy)).toContain("language_model.model.embed_tokens.weight");
    await ag.safetensors.writeSafetensors(join(a, "model.safetensors"), legacy);
    const m = await iv.load(a);
    expect(m.params.language.lmHead).toBeUndefined();
    expect(m.config.text.tieWordEmbeddings).toBe(true);
    const ids = ag.tensor([[1, 2, 3]], { dtype: "int32" });
    const tied = iv.forward(m.config, m.params, { inputIds: ids });
    const manual = iv.forward(
      m.config,
      { ...m.params, language: { ...m.params.language, lmHead: { kernel: ag.transpose(m.params.language.embed.weight) } } },
      { inputIds: ids },
    );
    expect(Array.from(tied.dataSync())).toEqual(Array.from(manual.dataSync()));
  });

  it("lets the checkpoint decide the head: an lm_head present stays untied even if the config says tied", async () => {
    const a = tempDir("head");
    const made = await iv.createModel(a, { preset: "tiny", layout: "original", seed: 8 });
    const cfg = JSON.parse(readFileSync(join(a, "config.json"), "utf8"));
    cfg.llm_config.tie_word_embeddings = true;
    writeFileSync(join(a, "config.json"), JSON.stringify(cfg));
    const m = await iv.load(a);
    expect(m.config.text.tieWordEmbeddings).toBe(false);
    expect(bits(m.params.language.lmHead!.kernel)).toEqual(bits(made.params.language.lmHead!.kernel));
  });

  it("loads a sharded checkpoint (model.safetensors.index.json)", async () => {
    const a = tempDir("shard");
    const made = await iv.createModel(a, { preset: "tiny", layout: "original", seed: 6 });
    const named = Object.entries(iv.checkpointTensors(made.config, made.params, "original"));
    const half = Math.floor(named.length / 2);
    const shards = [named.slice(0, half), named.slice(half)];
    const weightMap: Record<string, string> = {};
    for (const [k, part] of shards.entries()) {
      const file = `model-0000${k + 1}-of-00002.safetensors`;
      await ag.safetensors.writeSafetensors(join(a, file), Object.fromEntries(part));
      for (const [n] of part) weightMap[n] = file;
    }
    rmSync(join(a, "model.safetensors"));
    writeFileSync(join(a, "model.safetensors.index.json"), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const m = await iv.load(a);
    ag.treeLeaves(m.params as never).forEach((t, i) => expect(bits(t)).toEqual(bits(ag.treeLeaves(made.params as never)[i]!)));
  });
});

describe("bad model directories", () => {
  it("a directory that is not a model, or no directory at all", async () => {
    const empty = tempDir("empty");
    await expect(iv.load(empty)).rejects.toThrow(/not a model directory: it has no config\.json \(it is empty\)/);
    await expect(iv.load(join(empty, "nope"))).rejects.toThrow(/no such model directory/);
    writeFileSync(join(empty, "config.json"), "{ not json");
    await expect(iv.load(empty)).rejects.toThrow(/config\.json: not valid JSON/);
  });

  it("an architecture we do not support", async () => {
    const a = tempDir("arch");
    await iv.createModel(a, { preset: "tiny", layout: "original", seed: 1 });
    const cfg = JSON.parse(readFileSync(join(a, "config.json"), "utf8"));
    cfg.llm_config.architectures = ["InternLM2ForCausalLM"];
    writeFileSync(join(a, "config.json"), JSON.stringify(cfg));
    await expect(iv.load(a)).rejects.toThrow(/llm_config\.architectures names "InternLM2ForCausalLM"/);
  });

  it("a truncated safetensors file", async () => {
    const a = tempDir("trunc");
    await iv.createModel(a, { preset: "tiny", layout: "original", seed: 1 });
    const f = join(a, "model.safetensors");
    truncateSync(f, statSync(f).size - 100);
    await expect(iv.load(a)).rejects.toThrow(ag.safetensors.SafetensorsError);
  });

  it("reports every missing, unexpected and wrongly shaped tensor in one error", async () => {
    const a = tempDir("keys");
    const made = await iv.createModel(a, { preset: "tiny", layout: "hf", seed: 1 });
    const named = iv.checkpointTensors(made.config, made.params, "hf");
    delete named["model.vision_tower.encoder.layer.1.attention.k_proj.weight"];
    delete named["model.language_model.norm.weight"];
    named["model.language_model.layers.0.mlp.up_proj.weight"] = ag.zeros([3, 64]);
    named["model.vision_tower.layernorm.weight"] = ag.zeros([32]);
    await ag.safetensors.writeSafetensors(join(a, "model.safetensors"), named);
    const err = await iv.load(a).then(
      () => null,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(iv.WeightsError);
    expect(err!.message).toMatch(
      /2 missing:\n\s+model\.vision_tower\.encoder\.layer\.1\.attention\.k_proj\.weight \[32, 32\]\n\s+model\.language_model\.norm\.weight \[64\]/,
    );
    expect(err!.message).toMatch(
      /1 with the wrong shape:\n\s+model\.language_model\.layers\.0\.mlp\.up_proj\.weight: \[3, 64\] in the checkpoint, \[128, 64\] expected/,
    );
    expect(err!.message).toMatch(/1 unexpected:\n\s+model\.vision_tower\.layernorm\.weight/);
  });

  it("a tokenizer whose <IMG_CONTEXT> is not the config's image_token_id", async () => {
    const a = tempDir("tokid"),
      b = tempDir("tokid-b");
    await iv.createModel(a, { preset: "tiny", layout: "hf", seed: 1 });
    await iv.writeWordLevelTokenizer(b, ["only", "words"]);
    mkdirSync(b, { recursive: true });
    copyFileSync(join(b, "tokenizer.json"), join(a, "tokenizer.json"));
    await expect(iv.load(a)).rejects.toThrow(/image_token_id \d+ is not the tokenizer's <IMG_CONTEXT> id \d+/);
  });
});

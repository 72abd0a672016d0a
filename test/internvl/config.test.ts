import { describe, expect, it } from "vitest";
import { iv } from "./helpers.js";

describe("presets", () => {
  it("have INTERNVL.md's parameter counts, computed from shapes alone", () => {
    expect(iv.parameterCount(iv.preset("internvl2-1b"))).toBe(938_158_976);
    expect(iv.parameterCount(iv.preset("internvl2.5-1b"))).toBe(938_193_024);
    expect(iv.parameterCount(iv.preset("internvl3-1b"))).toBe(938_193_024);
    const vit = iv
      .paramSpecs(iv.preset("internvl3-1b"))
      .filter((s) => s.path[0] === "vision")
      .reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
    expect(vit).toBe(304_012_288);
  });

  it("give 256 image tokens per 448² tile for the 1B models and 16 for tiny", () => {
    for (const n of ["internvl2-1b", "internvl3-1b", "internvl3.5-1b"]) expect(iv.tokensPerTile(iv.preset(n))).toBe(256);
    expect(iv.tokensPerTile(iv.preset("tiny"))).toBe(16);
  });

  it("size InternVL3.5-1B's Qwen3 as INTERNVL.md (1024/28, 16/8 heads of 128, SwiGLU 3072, q/k norm, no bias)", () => {
    const t = iv.preset("internvl3.5-1b").text;
    expect([t.arch, t.hiddenSize, t.numLayers, t.numHeads, t.numKvHeads, t.headDim, t.intermediateSize, t.qkNorm, t.qkvBias]).toEqual([
      "qwen3",
      1024,
      28,
      16,
      8,
      128,
      3072,
      true,
      false,
    ]);
    const q = iv
      .paramSpecs(iv.preset("internvl3.5-1b"))
      .find((s) => s.names.original[0] === "language_model.model.layers.0.self_attn.q_proj.weight")!;
    expect(q.shape).toEqual([1024, 2048]); // our kernel [in, out]
    expect(q.transposed).toBe(true); // the checkpoint's weight is [2048, 1024]
  });

  it("name an unknown preset", () => {
    expect(() => iv.preset("internvl9")).toThrow(/unknown preset "internvl9"; known presets: tiny/);
  });
});

describe("config.json", () => {
  for (const name of ["tiny", "tiny-qwen3", "internvl2-1b", "internvl3-1b", "internvl3.5-1b"]) {
    for (const layout of ["original", "hf"] as const) {
      if (name === "internvl2-1b" && layout === "hf") continue; // Hermes-2 has no "-hf" form
      it(`${name} round-trips through the ${layout} layout`, () => {
        const c = { ...iv.preset(name), layout };
        const back = iv.parseConfig(JSON.parse(JSON.stringify(iv.configJson(c))), {
          imageTokenId: c.imageTokenId,
          preprocessor: iv.preprocessorJson(c),
        });
        expect(back).toEqual(c);
      });
    }
  }

  it("uses the public field names of each layout", () => {
    const c = iv.preset("internvl3-1b");
    const orig = iv.configJson(c, "original");
    for (const k of ["vision_config", "llm_config", "template", "ps_version", "select_layer", "downsample_ratio", "max_dynamic_patch"])
      expect(orig).toHaveProperty(k);
    expect(orig.architectures).toEqual(["InternVLChatModel"]);
    const hf = iv.configJson(c, "hf");
    for (const k of ["vision_config", "text_config", "image_token_id", "image_seq_length", "downsample_ratio", "projector_hidden_act"])
      expect(hf).toHaveProperty(k);
    expect(hf).toMatchObject({
      architectures: ["InternVLForConditionalGeneration"],
      image_token_id: 151667,
      image_seq_length: 256,
      projector_hidden_act: "gelu",
    });
    expect((hf.vision_config as Record<string, unknown>).image_size).toEqual([448, 448]);
    expect(() => iv.configJson(iv.preset("internvl2-1b"), "hf")).toThrow(/Hermes-2/);
  });

  it("reads a config.json shaped like InternVL3-1B's own (extra fields, dynamic rope_scaling) as the preset", () => {
    const real = {
      architectures: ["InternVLChatModel"],
      auto_map: { AutoConfig: "configuration_internvl_chat.InternVLChatConfig" },
      downsample_ratio: 0.5,
      dynamic_image_size: true,
      force_image_size: 448,
      hidden_size: 896,
      image_fold: null,
      llm_config: {
        architectures: ["Qwen2ForCausalLM"],
        attention_dropout: 0.0,
        bos_token_id: 151643,
        eos_token_id: 151643,
        hidden_act: "silu",
        hidden_size: 896,
        initializer_range: 0.02,
        intermediate_size: 4864,
        max_position_embeddings: 32768,
        max_window_layers: 70,
        model_type: "qwen2",
        moe_config: null,
        num_attention_heads: 14,
        num_hidden_layers: 24,
        num_key_value_heads: 2,
        rms_norm_eps: 1e-6,
        rope_scaling: { factor: 2.0, rope_type: "dynamic", type: "dynamic" },
        rope_theta: 1000000.0,
        sliding_window: null,
        torch_dtype: "bfloat16",
        use_bfloat16: true,
        use_cache: true,
        use_sliding_window: false,
        vocab_size: 151674,
      },
      max_dynamic_patch: 12,
      min_dynamic_patch: 1,
      model_type: "internvl_chat",
      pad2square: false,
      ps_version: "v2",
      select_layer: -1,
      system_message: null,
      template: "internvl2_5",
      tie_word_embeddings: false,
      torch_dtype: "bfloat16",
      use_backbone_lora: 0,
      use_llm_lora: 0,
      use_thumbnail: true,
      vision_config: {
        architectures: ["InternVisionModel"],
        attention_dropout: 0.0,
        drop_path_rate: 0.1,
        dropout: 0.0,
        hidden_act: "gelu",
        hidden_size: 1024,
        image_size: 448,
        initializer_factor: 0.1,
        initializer_range: 1e-10,
        intermediate_size: 4096,
        layer_norm_eps: 1e-6,
        model_type: "intern_vit_6b",
        norm_type: "layer_norm",
        num_attention_heads: 16,
        num_channels: 3,
        num_hidden_layers: 24,
        patch_size: 14,
        qk_normalization: false,
        qkv_bias: true,
        use_flash_attn: true,
      },
    };
    const c = iv.parseConfig(real, { imageTokenId: 151667 });
    const want = iv.preset("internvl3-1b");
    expect({ ...c, vision: { ...c.vision, initializerRange: 0.02 }, text: { ...c.text, eosTokenId: 151645 } }).toEqual(want);
    expect(c.text.ropeScaling).toEqual({ type: "dynamic", factor: 2 });
    const linear = { ...real, llm_config: { ...real.llm_config, rope_scaling: { type: "linear", factor: 4 } } };
    expect(() => iv.parseConfig(linear, { imageTokenId: 1 })).toThrow(/llm_config\.rope_scaling has type "linear"; only the "dynamic"/);
    const sliding = { ...real, llm_config: { ...real.llm_config, use_sliding_window: true } };
    expect(() => iv.parseConfig(sliding, { imageTokenId: 1 })).toThrow(/use_sliding_window is set/);
  });

  const hfJson = () => iv.configJson({ ...iv.preset("tiny"), layout: "hf" }) as Record<string, any>;
  it("rejects architectures we do not implement, naming the field", () => {
    const orig = iv.configJson(iv.preset("tiny"), "original") as Record<string, any>;
    orig.llm_config.architectures = ["InternLM2ForCausalLM"];
    expect(() => iv.parseConfig(orig, { imageTokenId: 5, file: "m/config.json" })).toThrow(
      /m\/config\.json: llm_config\.architectures names "InternLM2ForCausalLM"; supported language models: Qwen2ForCausalLM/,
    );
    const h = hfJson();
    h.vision_config.norm_type = "rms_norm";
    expect(() => iv.parseConfig(h)).toThrow(/vision_config\.norm_type is "rms_norm"/);
    const q = hfJson();
    q.vision_config.use_qk_norm = true;
    expect(() => iv.parseConfig(q)).toThrow(/use_qk_norm is set/);
    expect(() => iv.parseConfig({ model_type: "llava", text_config: {} })).toThrow(/vision_config must be an object/);
    expect(() => iv.parseConfig({ model_type: "bert" })).toThrow(/not an InternVL config/);
  });

  it("reports missing and mistyped fields by path", () => {
    const h = hfJson();
    delete h.text_config.hidden_size;
    expect(() => iv.parseConfig(h)).toThrow(/text_config\.hidden_size is missing/);
    const g = hfJson();
    g.vision_config.num_hidden_layers = "two";
    expect(() => iv.parseConfig(g)).toThrow(/vision_config\.num_hidden_layers must be a number, got "two"/);
    const s = hfJson();
    s.image_seq_length = 64;
    expect(() => iv.parseConfig(s)).toThrow(/image_seq_length is 64, but .* give 16 tokens per tile/);
    const orig = iv.configJson(iv.preset("tiny"), "original");
    expect(() => iv.parseConfig(orig)).toThrow(/<IMG_CONTEXT> id; it comes from tokenizer\.json/);
    expect(() => iv.parseConfig({ ...orig, select_layer: -9 }, { imageTokenId: 5 })).toThrow(/select_layer -9 is out of range/);
  });
});

/**
 * config.json against the checkpoint: sizes are checked before anything is
 * built from them, and the InternVL config parser, fuzzed, raises only the
 * project's errors within time and memory limits.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { openCheckpoint, type Checkpoint } from "../../src/io/safetensors.js";
import { fuzz } from "../io/fuzz.js";
import { iv, tempDir } from "./helpers.js";

type Json = Record<string, unknown>;
const readJson = (f: string) => JSON.parse(readFileSync(f, "utf8")) as Json;

/** A tiny model directory of `layout`, and its config.json as written. */
async function tinyModel(layout: "original" | "hf") {
  const dir = tempDir(`bounds-${layout}`);
  const made = await iv.createModel(dir, { preset: "tiny", layout, seed: 1 });
  return { dir, made, json: readJson(join(dir, "config.json")) };
}

describe("config.json against the checkpoint", () => {
  it("num_hidden_layers: 1000000 is refused, naming the field and the checkpoint's layers, before anything is allocated", async () => {
    const { dir, json } = await tinyModel("original");
    (json.llm_config as Json).num_hidden_layers = 1_000_000;
    writeFileSync(join(dir, "config.json"), JSON.stringify(json));
    const rss = process.memoryUsage().rss,
      start = performance.now();
    await expect(iv.load(dir)).rejects.toThrow(
      /config\.json's llm_config\.num_hidden_layers is 1000000, but the checkpoint's language layers are 2 \(language_model\.model\.layers\.N, N up to 1\)/,
    );
    expect(performance.now() - start).toBeLessThan(2000);
    expect(process.memoryUsage().rss - rss).toBeLessThan(64 << 20);
  });

  it("a vision layer count that differs from the checkpoint's names vision_config (hf layout)", async () => {
    const { dir, json } = await tinyModel("hf");
    (json.vision_config as Json).num_hidden_layers = 3;
    writeFileSync(join(dir, "config.json"), JSON.stringify(json));
    await expect(iv.load(dir)).rejects.toThrow(/vision_config\.num_hidden_layers is 3, but the checkpoint's vision layers are 2/);
  });

  it("a size that is not a positive integer names the field", () => {
    const c = iv.preset("tiny");
    const json = iv.configJson(c) as Json;
    (json.llm_config as Json).hidden_size = -64;
    expect(() => iv.parseConfig(json, { imageTokenId: c.imageTokenId })).toThrow(/text hidden_size must be a positive integer, got -64/);
    (json.llm_config as Json).hidden_size = 64;
    (json.vision_config as Json).patch_size = 0;
    expect(() => iv.parseConfig(json, { imageTokenId: c.imageTokenId })).toThrow(/vision patch_size must be a positive integer, got 0/);
  });
});

/** Every slot of every object and array in `v`, with a setter for it. */
function slots(v: unknown, out: ((x: unknown) => void)[] = []): ((x: unknown) => void)[] {
  if (v && typeof v === "object") {
    for (const k of Object.keys(v)) {
      out.push((x) => ((v as Record<string, unknown>)[k] = x));
      slots((v as Record<string, unknown>)[k], out);
    }
  }
  return out;
}

/** Values a config field may wrongly hold: edge numbers, wrong types, any JSON. */
const badValue = fc.oneof(
  fc.constantFrom(0, -1, 1, 2, 3, 0.5, 1e6, 1_000_000_000, 2 ** 53, 1e308, -1e308, null, "", "x", true, [], {}, [448, 448], [1, 2]),
  fc.jsonValue({ maxDepth: 2 }),
);

describe("the InternVL config parser, fuzzed", () => {
  const sources: Partial<Record<"original" | "hf", Checkpoint>> = {};
  const models: Record<string, Awaited<ReturnType<typeof tinyModel>>> = {};
  beforeAll(async () => {
    for (const layout of ["original", "hf"] as const) {
      models[layout] = await tinyModel(layout);
      sources[layout] = await openCheckpoint(models[layout].dir);
    }
    return async () => {
      for (const s of Object.values(sources)) await s.close();
    };
  });

  it("raises only AnchorErrors from parsing and weight matching, within its time and memory limits", async () => {
    const caseArb = fc.record({
      layout: fc.constantFrom("original" as const, "hf" as const),
      edits: fc.array(fc.tuple(fc.nat(), badValue), { minLength: 1, maxLength: 3 }),
    });
    await fuzz(
      caseArb,
      (c) => JSON.stringify(c.edits).length,
      async ({ layout, edits }) => {
        const { json, made } = models[layout]!;
        const mutated = structuredClone(json);
        for (const [at, value] of edits) {
          const s = slots(mutated);
          s[at % s.length]!(structuredClone(value));
        }
        const config = iv.parseConfig(mutated, { imageTokenId: made.config.imageTokenId, preprocessor: iv.preprocessorJson(made.config) });
        const params = await iv.loadWeights(sources[layout]!, config, config.layout);
        for (const leaf of iv.paramSpecs(config).map((s) => iv.getIn(params, s.path))) (leaf as { dispose?: () => void })?.dispose?.();
      },
    );
  });
});

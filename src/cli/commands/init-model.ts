/** `anchorgrad init-model`: write a complete random InternVL model directory. */
import { readFile, readdir } from "node:fs/promises";
import { createModel } from "../../models/internvl/checkpoint.js";
import { PRESETS } from "../../models/internvl/config.js";
import { parameterCount } from "../../models/internvl/params.js";
import { intFlag, parseFlags, UsageError } from "../args.js";
import type { Command } from "../command.js";

const DTYPES = { f32: "F32", bf16: "BF16", f16: "F16" } as const;

/** A word list: a JSON array of strings, or one word per line. */
async function readWords(path: string): Promise<string[]> {
  const text = await readFile(path, "utf8").catch((e: NodeJS.ErrnoException) => {
    throw new UsageError(`--words ${path}: cannot read (${e.code ?? e.message})`);
  });
  if (text.trimStart().startsWith("[")) {
    const v = JSON.parse(text) as unknown;
    if (!Array.isArray(v) || !v.every((w) => typeof w === "string"))
      throw new UsageError(`--words ${path}: expected a JSON array of strings`);
    return v as string[];
  }
  return text
    .split(/\r?\n/)
    .map((w) => w.trim())
    .filter(Boolean);
}

export const initModel: Command = {
  name: "init-model",
  summary: "write a random InternVL model directory (config.json, model.safetensors, tokenizer)",
  usage: `anchorgrad init-model --preset ${PRESETS.join("|")} --layout original|hf --seed N --out DIR [--words FILE] [--tokenizer-from DIR] [--dtype f32|bf16|f16] [--force]`,
  async run(argv) {
    const { values } = parseFlags(argv, {
      preset: { type: "string", default: "tiny" },
      layout: { type: "string", default: "original" },
      seed: { type: "string" },
      out: { type: "string" },
      words: { type: "string" },
      "tokenizer-from": { type: "string" },
      dtype: { type: "string", default: "f32" },
      force: { type: "boolean", default: false },
    });
    const out = values.out as string | undefined;
    if (!out) throw new UsageError("--out DIR is required");
    const layout = values.layout as string;
    if (layout !== "original" && layout !== "hf") throw new UsageError(`--layout must be original or hf, got "${layout}"`);
    const seed = intFlag(values.seed, "seed", 0, 0);
    const dtype = DTYPES[values.dtype as keyof typeof DTYPES];
    if (!dtype) throw new UsageError(`--dtype must be f32, bf16 or f16, got "${values.dtype}"`);
    const preset = values.preset as string;
    if (!(PRESETS as readonly string[]).includes(preset))
      throw new UsageError(`unknown --preset "${preset}"; known: ${PRESETS.join(", ")}`);
    const existing = await readdir(out).catch(() => [] as string[]);
    if (existing.includes("config.json") && !values.force)
      throw new UsageError(`${out} already holds a model (config.json); pass --force to overwrite it`);
    const words = values.words ? await readWords(values.words as string) : undefined;
    const t0 = performance.now();
    const model = await createModel(out, {
      preset,
      layout,
      seed,
      dtype,
      ...(words && { words }),
      ...(values["tokenizer-from"] ? { tokenizerFrom: values["tokenizer-from"] as string } : {}),
    });
    const c = model.config;
    console.log(
      `wrote ${out}: ${preset} (${layout} layout), ${parameterCount(c).toLocaleString("en-US")} parameters, vocabulary ${c.text.vocabSize}, seed ${seed}, ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
  },
};

/** `anchorgrad init-model`: write a complete random InternVL model directory. */
import { readdir } from "node:fs/promises";
import { readRegularText } from "../../io/files.js";
import { parseJson } from "../../io/json.js";
import { createModel } from "../../models/internvl/checkpoint.js";
import { PRESETS } from "../../models/internvl/config.js";
import { parameterCount } from "../../models/internvl/params.js";
import { NON_NEGATIVE_INT, UsageError } from "../args.js";
import { defineCommand } from "../command.js";

const DTYPES = { f32: "F32", bf16: "BF16", f16: "F16" } as const;

/** A vocabulary of a million words is far past any tokenizer this command makes. */
const MAX_WORDS_BYTES = 64 << 20;

/** A word list: a JSON array of strings, or one word per line. */
async function readWords(path: string): Promise<string[]> {
  const fail = (why: string) => new UsageError(`--words ${path}: ${why}`);
  const text = await readRegularText(path, { maxBytes: MAX_WORDS_BYTES }, fail);
  if (text.trimStart().startsWith("[")) {
    const v = parseJson(text, fail);
    if (!Array.isArray(v) || !v.every((w) => typeof w === "string"))
      throw new UsageError(`--words ${path}: expected a JSON array of strings`);
    return v as string[];
  }
  return text
    .split(/\r?\n/)
    .map((w) => w.trim())
    .filter(Boolean);
}

export const initModel = defineCommand({
  name: "init-model",
  summary: "write a random InternVL model directory (config.json, model.safetensors, tokenizer)",
  flags: [
    { name: "out", type: "path", required: true, description: "the model directory to write" },
    { name: "preset", type: PRESETS, default: "tiny", description: "model size and architecture (tiny for tests and the demo)" },
    {
      name: "layout",
      type: ["original", "hf"],
      default: "original",
      description: "tensor names and config.json of OpenGVLab's repos or of transformers",
    },
    { name: "seed", type: "integer", default: 0, check: NON_NEGATIVE_INT, description: "seed of the random weights" },
    {
      name: "words",
      type: "path",
      defaultText: "the built-in shapes vocabulary",
      description: "word list for the tokenizer: a JSON array of strings or one word per line",
    },
    {
      name: "tokenizer-from",
      type: "path",
      defaultText: "none",
      description: "copy tokenizer files from this checkpoint directory (needed by the real-size presets)",
    },
    { name: "dtype", type: Object.keys(DTYPES), default: "f32", description: "storage dtype of the weights" },
    { name: "force", type: "boolean", description: "overwrite a directory that already holds a model" },
  ],
  async action(values) {
    const out = values.out as string;
    const layout = values.layout as "original" | "hf";
    const seed = values.seed as number;
    const dtype = DTYPES[values.dtype as keyof typeof DTYPES];
    const preset = values.preset as string;
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
});

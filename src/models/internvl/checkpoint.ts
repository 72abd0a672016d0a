/**
 * Model directories: `load` reads config.json (either layout), the weights
 * (model.safetensors or shards) and tokenizer.json; `save` writes them in
 * either layout; `createModel` writes a fresh random model (what
 * `anchorgrad init-model` runs).
 */
import { copyFile, mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { decodeUtf8, notRegular, readRegularFile } from "../../io/files.js";
import { parseJson } from "../../io/json.js";
import type { DType } from "../../tensor/dtype.js";
import { AnchorError } from "../../tensor/errors.js";
import {
  configJson,
  ConfigError,
  parseConfig,
  preprocessorJson,
  preset,
  WORD_LEVEL_PRESETS,
  type InternVLConfig,
  type Layout,
} from "./config.js";
import { initParams, type InternVLParams } from "./params.js";
import { TINY_WORDS } from "./tiny-vocab.js";
import { loadTokenizer, writeWordLevelTokenizer, type InternVLTokenizer } from "./tokenizer.js";
import { loadWeightsFromDir, saveWeights } from "./weights.js";

export interface InternVLModel {
  readonly config: InternVLConfig;
  readonly params: InternVLParams;
  /** null when the directory has no tokenizer.json (possible for "-hf" checkpoints only). */
  readonly tokenizer: InternVLTokenizer | null;
}

/** config.json and preprocessor_config.json are a few kB; anything near this is the wrong file. */
const MAX_CONFIG_BYTES = 16 << 20;

/** A JSON object from a regular file (FIFOs and devices are refused unopened); absent optional files give undefined. */
async function readJsonFile(path: string, required: boolean): Promise<Record<string, unknown> | undefined> {
  if (!required && !(await exists(path))) return undefined;
  const fail = (why: string) => new ConfigError(`${path}: ${why}`);
  const v = parseJson(decodeUtf8(await readRegularFile(path, { maxBytes: MAX_CONFIG_BYTES }, fail), fail), fail);
  if (!v || typeof v !== "object" || Array.isArray(v)) throw fail("not valid JSON (expected a JSON object)");
  return v as Record<string, unknown>;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** The config of the model directory `dir` (the tokenizer supplies the original layout's <IMG_CONTEXT> id). */
export async function readConfig(dir: string, tokenizer: InternVLTokenizer | null): Promise<InternVLConfig> {
  const st = await stat(dir).catch(() => null);
  if (!st) throw new ConfigError(`${dir}: no such model directory`);
  if (!st.isDirectory()) throw new ConfigError(`${dir}: is a file, not a model directory`);
  const file = join(dir, "config.json");
  if (!(await exists(file))) {
    const entries = (await readdir(dir)).sort();
    throw new ConfigError(
      `${dir}: not a model directory: it has no config.json (${entries.length ? `it holds ${entries.slice(0, 8).join(", ")}${entries.length > 8 ? ", ..." : ""}` : "it is empty"})`,
    );
  }
  const json = (await readJsonFile(file, true))!;
  const preprocessor = await readJsonFile(join(dir, "preprocessor_config.json"), false);
  const config = parseConfig(json, {
    file,
    ...(tokenizer && { imageTokenId: tokenizer.specialIds.imgContext }),
    ...(preprocessor && { preprocessor }),
  });
  if (tokenizer) {
    if (tokenizer.specialIds.imgContext !== config.imageTokenId) {
      throw new ConfigError(
        `${file}: image_token_id ${config.imageTokenId} is not the tokenizer's <IMG_CONTEXT> id ${tokenizer.specialIds.imgContext}`,
      );
    }
    if (tokenizer.vocabSize > config.text.vocabSize) {
      throw new ConfigError(`${file}: vocab_size ${config.text.vocabSize} is smaller than the tokenizer's ${tokenizer.vocabSize} ids`);
    }
  }
  return config;
}

export interface LoadOptions {
  /** dtype of the parameters (default float32). */
  dtype?: DType;
}

/**
 * Load a model directory in either layout. Weights are read one tensor at a
 * time and converted to `dtype`. The head is tied to the embeddings exactly
 * when the checkpoint has no lm_head, and the returned config says so.
 */
export async function load(dir: string, opts: LoadOptions = {}): Promise<InternVLModel> {
  const tokenizer = (await exists(join(dir, "tokenizer.json"))) ? await loadTokenizer(dir) : null;
  let config = await readConfig(dir, tokenizer);
  const params = await loadWeightsFromDir(dir, config, config.layout, opts);
  const tied = !params.language.lmHead;
  if (tied !== config.text.tieWordEmbeddings) config = { ...config, text: { ...config.text, tieWordEmbeddings: tied } };
  return { config, params, tokenizer };
}

/** The files that make up a tokenizer, copied by `save`. */
const TOKENIZER_FILES = [
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "added_tokens.json",
  "vocab.json",
  "merges.txt",
  "generation_config.json",
];

export interface SaveOptions {
  /** Layout of config.json and of the tensor names (default: the config's own). */
  layout?: Layout;
  /** Storage dtype of the weights (default F32: a float32 model round-trips bit for bit). */
  dtype?: "F32" | "BF16" | "F16";
  /** A directory whose tokenizer files are copied alongside (e.g. the one the model was loaded from). */
  tokenizerFrom?: string;
}

const TORCH_DTYPE = { F32: "float32", BF16: "bfloat16", F16: "float16" } as const;

/** Write config.json, model.safetensors (and, for "-hf", preprocessor_config.json) into `dir`. */
export async function save(dir: string, config: InternVLConfig, params: InternVLParams, opts: SaveOptions = {}): Promise<void> {
  const layout = opts.layout ?? config.layout,
    dtype = opts.dtype ?? "F32";
  const json = configJson(config, layout, TORCH_DTYPE[dtype]); // validates the layout before anything is written
  await mkdir(dir, { recursive: true });
  await saveWeights(join(dir, "model.safetensors"), config, params, layout, { dtype });
  await writeFile(join(dir, "config.json"), JSON.stringify(json, null, 2) + "\n");
  if (layout === "hf") await writeFile(join(dir, "preprocessor_config.json"), JSON.stringify(preprocessorJson(config), null, 2) + "\n");
  if (opts.tokenizerFrom && opts.tokenizerFrom !== dir) {
    for (const f of TOKENIZER_FILES) {
      const from = join(opts.tokenizerFrom, f);
      const st = await stat(from).catch(() => null);
      if (!st) continue;
      const why = notRegular(st); // copyFile would block on a FIFO
      if (why) throw new ConfigError(`${from}: ${why}`);
      await copyFile(from, join(dir, f));
    }
  }
}

export interface CreateOptions {
  preset: string;
  layout: Layout;
  seed: number;
  /** Words of the word-level presets' tokenizer (default TINY_WORDS). */
  words?: readonly string[];
  /** For the 1B presets: a directory holding the checkpoint's real tokenizer files. */
  tokenizerFrom?: string;
  dtype?: "F32" | "BF16" | "F16";
}

/**
 * A complete random model directory: config.json in the chosen layout,
 * model.safetensors, and the tokenizer (a word-level one carrying InternVL's
 * special tokens for the word-level presets, tiny and small; copied from `tokenizerFrom` for the
 * 1B presets, whose 151k-token vocabularies we cannot make up).
 */
export async function createModel(dir: string, opts: CreateOptions): Promise<InternVLModel> {
  let config: InternVLConfig = { ...preset(opts.preset), layout: opts.layout };
  if (opts.layout === "hf" && config.template !== "internvl2_5") {
    throw new ConfigError(
      `preset "${opts.preset}" uses the ${config.template} template, which the "-hf" layout cannot express; use --layout original`,
    );
  }
  let tokenizer: InternVLTokenizer;
  const wordLevel = WORD_LEVEL_PRESETS[opts.preset];
  if (wordLevel) {
    tokenizer = await writeWordLevelTokenizer(dir, opts.words ?? TINY_WORDS, {
      template: config.template,
      modelMaxLength: config.text.maxPositionEmbeddings,
    });
    config = {
      ...config,
      imageTokenId: tokenizer.specialIds.imgContext,
      text: { ...config.text, vocabSize: Math.max(tokenizer.vocabSize, wordLevel.padVocabTo), eosTokenId: tokenizer.specialIds.imEnd },
    };
  } else {
    if (!opts.tokenizerFrom)
      throw new AnchorError(
        `preset "${opts.preset}" needs its checkpoint's tokenizer: pass tokenizerFrom (--tokenizer-from DIR) with its tokenizer.json`,
      );
    tokenizer = await loadTokenizer(opts.tokenizerFrom);
    if (tokenizer.specialIds.imgContext !== config.imageTokenId) {
      throw new ConfigError(
        `${opts.tokenizerFrom}: <IMG_CONTEXT> is id ${tokenizer.specialIds.imgContext}, but preset "${opts.preset}" expects ${config.imageTokenId}; is this the ${opts.preset} tokenizer?`,
      );
    }
  }
  const params = initParams(config, opts.seed);
  await save(dir, config, params, {
    layout: opts.layout,
    ...(opts.dtype && { dtype: opts.dtype }),
    ...(opts.tokenizerFrom && { tokenizerFrom: opts.tokenizerFrom }),
  });
  return { config, params, tokenizer };
}

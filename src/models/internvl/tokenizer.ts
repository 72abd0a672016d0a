/**
 * The tokenizer of an InternVL checkpoint: its tokenizer.json and
 * tokenizer_config.json, run by `@huggingface/tokenizers` (BPE for the real
 * Qwen-based models, word-level for the tiny models made here). This module
 * adds what InternVL needs on top: the ids of its special tokens, clear
 * errors for a missing or corrupt tokenizer, and a writer for a small
 * word-level tokenizer that carries the InternVL special tokens.
 */
import { mkdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { decodeUtf8, readRegularFile } from "../../io/files.js";
import { parseJson } from "../../io/json.js";
import { AnchorError } from "../../tensor/errors.js";
import { getTemplate, IM_END, IM_START, IMG_CONTEXT, IMG_END, IMG_START, type TemplateName } from "./conversation.js";

/** A tokenizer that is missing, corrupt or lacks InternVL's special tokens. */
export class TokenizerError extends AnchorError {
  override name = "TokenizerError";
}

export interface SpecialIds {
  imStart: number;
  imEnd: number;
  /** `<img>`, which opens an image's tokens. */
  img: number;
  /** `</img>`, which closes them. */
  imgEnd: number;
  /** `<IMG_CONTEXT>`: the positions whose embeddings the vision features replace. */
  imgContext: number;
  pad?: number;
  /** Where generation stops: tokenizer_config's eos_token, else <|im_end|>. */
  eos: number;
}

export interface InternVLTokenizer {
  /** Ids of `text`, special tokens written in it recognised as such; nothing is added around it. */
  encode(text: string): number[];
  decode(ids: readonly number[], opts?: { skipSpecial?: boolean }): string;
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
  /** One more than the largest id (the model's embedding may have more rows). */
  readonly vocabSize: number;
  readonly specialIds: SpecialIds;
  /** tokenizer_config.json's chat_template, when it has one. */
  readonly chatTemplate?: string;
}

/** Load `dir/tokenizer.json` (and `dir/tokenizer_config.json` when present). */
export async function loadTokenizer(dir: string): Promise<InternVLTokenizer> {
  const tokenizerPath = join(dir, "tokenizer.json");
  const configPath = join(dir, "tokenizer_config.json");
  const tokenizerJson = (await readJson(tokenizerPath, true))!;
  const config = (await readJson(configPath, false)) ?? {};
  return tokenizerFromJSON(tokenizerJson, config, tokenizerPath);
}

/** Qwen's tokenizer.json is 11 MB; the largest public ones are near 35 MB. */
const MAX_TOKENIZER_BYTES = 512 << 20;

/** A JSON object from a regular file (FIFOs and devices are refused unopened); absent optional files give undefined. */
async function readJson(path: string, required: boolean): Promise<Record<string, unknown> | undefined> {
  const present = await stat(path).then(
    () => true,
    () => false,
  );
  if (!present) {
    if (!required) return undefined;
    throw new TokenizerError(`${path}: not found; a model directory needs the tokenizer.json its checkpoint was trained with`);
  }
  const fail = (why: string) => new TokenizerError(`${path}: ${why}`);
  const value = parseJson(decodeUtf8(await readRegularFile(path, { maxBytes: MAX_TOKENIZER_BYTES }, fail), fail), fail);
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new TokenizerError(`${path}: expected a JSON object`);
  return value as Record<string, unknown>;
}

/** Build from parsed tokenizer.json and tokenizer_config.json; `where` names the source in errors. */
export function tokenizerFromJSON(
  tokenizerJson: Record<string, unknown>,
  config: Record<string, unknown>,
  where: string,
): InternVLTokenizer {
  const model = tokenizerJson["model"];
  if (typeof model !== "object" || model === null || !("vocab" in model))
    throw new TokenizerError(`${where}: has no "model" with a "vocab"; not a tokenizers JSON file`);
  // The library wants these keys present (null when unused); hand-written files often leave them out.
  const complete = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, added_tokens: [], ...tokenizerJson };
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(complete, { ...config, ...unkFromModel(model as Record<string, unknown>, config) });
  } catch (e) {
    throw new TokenizerError(`${where}: @huggingface/tokenizers cannot build it (${(e as Error).message})`);
  }

  const vocab = tok.get_vocab(true);
  let maxId = -1;
  for (const id of vocab.values()) if (id > maxId) maxId = id;
  const vocabSize = maxId + 1;
  const idOf = (token: string): number => {
    const id = tok.token_to_id(token);
    if (id === undefined)
      throw new TokenizerError(
        `${where}: lacks the InternVL token ${token} (is this the checkpoint's own tokenizer, with InternVL's added tokens?)`,
      );
    return id;
  };
  const named = (key: string): string | undefined => {
    const v = config[key];
    return typeof v === "string"
      ? v
      : typeof v === "object" && v && typeof (v as { content?: unknown }).content === "string"
        ? (v as { content: string }).content
        : undefined;
  };
  const imEnd = idOf(IM_END);
  const eosToken = named("eos_token");
  const padToken = named("pad_token");
  const specialIds: SpecialIds = {
    imStart: idOf(IM_START),
    imEnd,
    img: idOf(IMG_START),
    imgEnd: idOf(IMG_END),
    imgContext: idOf(IMG_CONTEXT),
    eos: eosToken !== undefined ? (tok.token_to_id(eosToken) ?? imEnd) : imEnd,
  };
  const pad = padToken !== undefined ? tok.token_to_id(padToken) : undefined;
  if (pad !== undefined) specialIds.pad = pad;
  const chatTemplate = typeof config["chat_template"] === "string" ? config["chat_template"] : undefined;

  return {
    vocabSize,
    specialIds,
    ...(chatTemplate !== undefined ? { chatTemplate } : {}),
    encode: (text) => tok.encode(text, { add_special_tokens: false }).ids,
    decode(ids, opts = {}) {
      ids.forEach((id, i) => {
        if (!Number.isInteger(id) || id < 0 || id >= vocabSize)
          throw new TokenizerError(`${where}: decode: ids[${i}] = ${id} is outside the vocabulary [0, ${vocabSize})`);
      });
      return ids.length === 0 ? "" : tok.decode([...ids], { skip_special_tokens: opts.skipSpecial ?? false });
    },
    tokenToId: (token) => tok.token_to_id(token),
    idToToken: (id) => tok.id_to_token(id),
  };
}

/** A WordLevel model names its unknown token in tokenizer.json; the library looks for it in the config. */
function unkFromModel(model: Record<string, unknown>, config: Record<string, unknown>): Record<string, unknown> {
  return config["unk_token"] === undefined && typeof model["unk_token"] === "string" ? { unk_token: model["unk_token"] } : {};
}

// --- a small word-level tokenizer -------------------------------------------

export const UNK = "<unk>";
/** Qwen's end of text; the pad token of the Qwen2.5-based checkpoints. */
export const END_OF_TEXT = "<|endoftext|>";
/** InternVL's added tokens, in the order the checkpoints number them. */
export const INTERNVL_SPECIAL_TOKENS = [
  END_OF_TEXT,
  IM_START,
  IM_END,
  IMG_START,
  IMG_END,
  IMG_CONTEXT,
  "<quad>",
  "</quad>",
  "<ref>",
  "</ref>",
  "<box>",
  "</box>",
] as const;

// What the BertPreTokenizer keeps together: a run of non-space, non-punctuation characters, or one punctuation mark.
const PUNCT = "\\p{P}\\u0021-\\u002F\\u003A-\\u0040\\u005B-\\u0060\\u007B-\\u007E";
const ONE_WORD = new RegExp(`^(?:[^\\s${PUNCT}]+|[${PUNCT}])$`, "u");

export interface WordLevelOptions {
  /** Chat template written into tokenizer_config.json (default internvl2_5). */
  template?: TemplateName;
  /** System message of that chat template (default: the template's own). */
  system?: string;
  /** Lowercase text before splitting; every word must then be lowercase. */
  lowercase?: boolean;
  modelMaxLength?: number;
}

/**
 * Write `dir/tokenizer.json` and `dir/tokenizer_config.json` for a word-level
 * tokenizer: id 0 is `<unk>`, then `words` in order (duplicates dropped),
 * then a newline token (so ChatML's line structure survives), then the
 * InternVL special tokens. Text splits on whitespace and around each
 * punctuation mark; a word the split could never produce is an error.
 * Decoding joins words with spaces (and removes the space before
 * punctuation). Returns the tokenizer as loaded back from disk.
 */
export async function writeWordLevelTokenizer(
  dir: string,
  words: readonly string[],
  opts: WordLevelOptions = {},
): Promise<InternVLTokenizer> {
  const template = getTemplate(opts.template ?? "internvl2_5");
  const reserved = new Set<string>([UNK, "\n", ...INTERNVL_SPECIAL_TOKENS]);
  const vocab: Record<string, number> = Object.create(null);
  vocab[UNK] = 0;
  let next = 1;
  for (const w of words) {
    if (typeof w !== "string" || !ONE_WORD.test(w))
      throw new TokenizerError(
        `writeWordLevelTokenizer: ${JSON.stringify(w)} is not one word or one punctuation mark, so text could never produce it`,
      );
    if (opts.lowercase && w !== w.toLowerCase())
      throw new TokenizerError(`writeWordLevelTokenizer: ${JSON.stringify(w)} has capitals but the tokenizer lowercases its input`);
    if (reserved.has(w)) throw new TokenizerError(`writeWordLevelTokenizer: ${JSON.stringify(w)} is a reserved token`);
    if (!(w in vocab)) vocab[w] = next++;
  }
  const added = [
    { id: 0, content: UNK, special: true },
    { id: next, content: "\n", special: false },
    ...INTERNVL_SPECIAL_TOKENS.map((content, i) => ({ id: next + 1 + i, content, special: true })),
  ].map((t) => ({ ...t, single_word: false, lstrip: false, rstrip: false, normalized: false }));

  const tokenizerJson = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: opts.lowercase ? { type: "Lowercase" } : null,
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: null,
    decoder: null,
    model: { type: "WordLevel", vocab, unk_token: UNK },
  };
  const tokenizerConfig = {
    tokenizer_class: "PreTrainedTokenizerFast",
    model_max_length: opts.modelMaxLength ?? 8192,
    unk_token: UNK,
    pad_token: END_OF_TEXT,
    eos_token: IM_END,
    bos_token: null,
    additional_special_tokens: INTERNVL_SPECIAL_TOKENS.filter((t) => t !== END_OF_TEXT && t !== IM_END),
    added_tokens_decoder: Object.fromEntries(added.map(({ id, ...rest }) => [String(id), rest])),
    clean_up_tokenization_spaces: true,
    split_special_tokens: false,
    chat_template: chatMLTemplate(opts.system ?? template.systemMessage, template.afterImEnd),
  };
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "tokenizer.json"), JSON.stringify(tokenizerJson, null, 2) + "\n");
  await writeFile(join(dir, "tokenizer_config.json"), JSON.stringify(tokenizerConfig, null, 2) + "\n");
  return loadTokenizer(dir);
}

/**
 * A Jinja chat template (the tokenizer_config convention) rendering the same
 * text as conversation.ts: a default system block when the messages bring
 * none, each message closed by <|im_end|> + `afterImEnd`, and an open
 * assistant turn when `add_generation_prompt` is set.
 */
export function chatMLTemplate(defaultSystem: string, afterImEnd: string): string {
  const q = (s: string) => JSON.stringify(s);
  const close = q(IM_END + afterImEnd);
  return [
    `{% if messages[0]['role'] != 'system' %}{{ ${q(`${IM_START}system\n${defaultSystem}`)} + ${close} }}{% endif %}`,
    `{% for message in messages %}{{ ${q(IM_START)} + message['role'] + '\\n' + message['content'] + ${close} }}{% endfor %}`,
    `{% if add_generation_prompt %}{{ ${q(`${IM_START}assistant\n`)} }}{% endif %}`,
  ].join("");
}

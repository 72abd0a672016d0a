/**
 * InternVL prompt formats. Both are ChatML; they differ only in the separator
 * that closes a message:
 *
 *   internvl2_5 (InternVL2.5, InternVL3):  ...<|im_end|>\n<|im_start|>...
 *   Hermes-2    (InternVL2-1B):            ...<|im_end|><|im_start|>...
 *
 * A prompt always opens with a system message (the template's own unless one
 * is given; "" gives an empty system block, as InternVL does). Each `<image>`
 * placeholder becomes `<img>` + `<IMG_CONTEXT>` × (numImageToken · tiles) +
 * `</img>`, in order, one per image; when the text has no placeholder, one
 * `<image>\n` per image is put before the first question, as InternVL's
 * `chat()` does for a single image.
 *
 * A conversation is kept as a list of pieces (prompt text, completion text,
 * images) so that the string form and the token ids come from the same
 * source: the ids are each piece encoded on its own, which is what marks the
 * completion tokens exactly (the answer and its closing <|im_end|>; the
 * newline after it belongs to the next turn's context and is never sampled).
 */
import { AnchorError } from "../../tensor/errors.js";

/** A prompt that cannot be built: placeholders that do not match the images, an unknown template. */
export class PromptError extends AnchorError {
  override name = "PromptError";
}

export type TemplateName = "internvl2_5" | "Hermes-2";

export interface ConversationTemplate {
  readonly name: TemplateName;
  /** Used when no system message is given (the checkpoints were trained with it). */
  readonly systemMessage: string;
  /** What follows the <|im_end|> that closes every message: "\n" or nothing. */
  readonly afterImEnd: string;
}

export const IMAGE_PLACEHOLDER = "<image>";
export const IM_START = "<|im_start|>";
export const IM_END = "<|im_end|>";
export const IMG_START = "<img>";
export const IMG_END = "</img>";
export const IMG_CONTEXT = "<IMG_CONTEXT>";

export const TEMPLATES: Readonly<Record<TemplateName, ConversationTemplate>> = {
  internvl2_5: {
    name: "internvl2_5",
    systemMessage: "你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位联合开发的多模态大语言模型。",
    afterImEnd: "\n",
  },
  "Hermes-2": {
    name: "Hermes-2",
    systemMessage: "你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, 是一个有用无害的人工智能助手。",
    afterImEnd: "",
  },
};

export function getTemplate(name: string): ConversationTemplate {
  const t = (TEMPLATES as Record<string, ConversationTemplate>)[name];
  if (!t) throw new PromptError(`unknown conversation template "${name}"; known: ${Object.keys(TEMPLATES).join(", ")}`);
  return t;
}

/** One question and, except on a final turn left open for generation, its answer. */
export interface Turn {
  question: string;
  answer?: string;
}

export interface ChatOptions {
  template: TemplateName;
  /** System message; defaults to the template's. */
  system?: string;
  turns: readonly Turn[];
  /** Tiles per image, in the order the images appear (thumbnail included). */
  numTiles?: readonly number[];
  /** Image tokens per tile: the model config's num_image_token (256 for 448-pixel tiles). */
  numImageToken: number;
}

export interface PromptOptions extends Omit<ChatOptions, "turns"> {
  question: string;
}

type Piece = { kind: "prompt"; text: string } | { kind: "completion"; text: string } | { kind: "image"; tokens: number };

/** The generation prompt: system, the question (images expanded), then the open assistant turn. */
export function buildPrompt(opts: PromptOptions): string {
  return renderChat({ ...opts, turns: [{ question: opts.question }] });
}

/** The whole conversation as text, images expanded. */
export function renderChat(opts: ChatOptions): string {
  return pieces(opts).map(pieceText).join("");
}

/** What encoding a conversation needs of a tokenizer (InternVLTokenizer in ./tokenizer.ts is one). */
export interface ChatTokenizer {
  readonly specialIds: { readonly img: number; readonly imgEnd: number; readonly imgContext: number };
  encode(text: string): number[];
}

/** Token ids of the generation prompt; image tokens are inserted as ids, not re-tokenized. */
export function encodePrompt(tokenizer: ChatTokenizer, opts: PromptOptions): number[] {
  return encodeChat(tokenizer, { ...opts, turns: [{ question: opts.question }] }).inputIds;
}

export interface EncodedChat {
  inputIds: number[];
  /** 1 at the tokens of every answer and its closing <|im_end|>: the positions a loss is taken on. */
  completionMask: Uint8Array;
  /** Index of the first completion token (inputIds.length if there is none). */
  promptLength: number;
}

/**
 * Token ids of a conversation with its completion positions marked. Each
 * text piece is encoded on its own; piece boundaries fall at special tokens
 * and at the newline that ends a role header, where a BPE tokenizer would
 * split anyway.
 */
export function encodeChat(tokenizer: ChatTokenizer, opts: ChatOptions): EncodedChat {
  const { img, imgEnd, imgContext } = tokenizer.specialIds;
  const ids: number[] = [];
  const mask: number[] = [];
  for (const p of pieces(opts)) {
    const part = p.kind === "image" ? [img, ...new Array<number>(p.tokens).fill(imgContext), imgEnd] : tokenizer.encode(p.text);
    for (const id of part) {
      ids.push(id);
      mask.push(p.kind === "completion" ? 1 : 0);
    }
  }
  const first = mask.indexOf(1);
  return { inputIds: ids, completionMask: Uint8Array.from(mask), promptLength: first < 0 ? ids.length : first };
}

function pieceText(p: Piece): string {
  return p.kind === "image" ? IMG_START + IMG_CONTEXT.repeat(p.tokens) + IMG_END : p.text;
}

function pieces(opts: ChatOptions): Piece[] {
  const template = getTemplate(opts.template);
  const numTiles = opts.numTiles ?? [];
  const perTile = opts.numImageToken;
  if (!Number.isInteger(perTile) || perTile <= 0) throw new PromptError(`numImageToken must be a positive integer, got ${perTile}`);
  numTiles.forEach((n, i) => {
    if (!Number.isInteger(n) || n <= 0) throw new PromptError(`numTiles[${i}] must be a positive integer, got ${n}`);
  });
  if (opts.turns.length === 0) throw new PromptError("a conversation needs at least one turn");
  opts.turns.forEach((t, i) => {
    if (t.answer === undefined && i < opts.turns.length - 1)
      throw new PromptError(`turn ${i} has no answer; only the last turn may be left open`);
  });

  const questions = opts.turns.map((t) => t.question);
  const placeholders = questions.reduce((n, q) => n + countOccurrences(q, IMAGE_PLACEHOLDER), 0);
  if (placeholders === 0 && numTiles.length > 0) questions[0] = `${IMAGE_PLACEHOLDER}\n`.repeat(numTiles.length) + questions[0];
  else if (placeholders !== numTiles.length) {
    throw new PromptError(
      `the conversation has ${placeholders} ${IMAGE_PLACEHOLDER} placeholders but ${numTiles.length} images were given`,
    );
  }

  const sep = IM_END + template.afterImEnd;
  const out: Piece[] = [{ kind: "prompt", text: `${IM_START}system\n${opts.system ?? template.systemMessage}${sep}` }];
  let image = 0;
  opts.turns.forEach((turn, i) => {
    out.push({ kind: "prompt", text: `${IM_START}user\n` });
    questions[i]!.split(IMAGE_PLACEHOLDER).forEach((text, j) => {
      if (j > 0) out.push({ kind: "image", tokens: perTile * numTiles[image++]! });
      if (text) out.push({ kind: "prompt", text });
    });
    out.push({ kind: "prompt", text: `${sep}${IM_START}assistant\n` });
    if (turn.answer !== undefined) {
      if (turn.answer) out.push({ kind: "completion", text: turn.answer });
      out.push({ kind: "completion", text: IM_END });
      if (template.afterImEnd) out.push({ kind: "prompt", text: template.afterImEnd });
    }
  });
  return mergePromptText(out);
}

/** Adjacent prompt texts become one piece, so the tokenizer sees them as the full string would show them. */
function mergePromptText(list: Piece[]): Piece[] {
  const out: Piece[] = [];
  for (const p of list) {
    const last = out[out.length - 1];
    if (p.kind === "prompt" && last?.kind === "prompt") out[out.length - 1] = { kind: "prompt", text: last.text + p.text };
    else out.push(p);
  }
  return out;
}

function countOccurrences(text: string, sub: string): number {
  return text.split(sub).length - 1;
}

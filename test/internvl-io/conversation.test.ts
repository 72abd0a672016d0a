/** Prompt formats against hand-written strings; image expansion; completion positions in token space. */
import { join } from "node:path";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  buildPrompt,
  encodeChat,
  encodePrompt,
  PromptError,
  renderChat,
  TEMPLATES,
  writeWordLevelTokenizer,
  type InternVLTokenizer,
} from "../../src/models/internvl/io.js";
import { tempDir } from "../io/helpers.js";

const dir = tempDir("conv");
const ctx = (n: number) => "<IMG_CONTEXT>".repeat(n);

describe("prompt strings", () => {
  it("internvl2_5: ChatML with a newline after each <|im_end|>", () => {
    expect(buildPrompt({ template: "internvl2_5", system: "You are terse.", question: "Hi?", numImageToken: 256 })).toBe(
      "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi?<|im_end|>\n<|im_start|>assistant\n",
    );
  });

  it("Hermes-2: the same with nothing after <|im_end|>", () => {
    expect(buildPrompt({ template: "Hermes-2", system: "You are terse.", question: "Hi?", numImageToken: 256 })).toBe(
      "<|im_start|>system\nYou are terse.<|im_end|><|im_start|>user\nHi?<|im_end|><|im_start|>assistant\n",
    );
  });

  it("uses the template's own system message unless given one; an empty one stays an empty block", () => {
    expect(buildPrompt({ template: "internvl2_5", question: "Q", numImageToken: 1 })).toBe(
      `<|im_start|>system\n${TEMPLATES.internvl2_5.systemMessage}<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n`,
    );
    expect(TEMPLATES.internvl2_5.systemMessage.startsWith("你是书生·万象")).toBe(true);
    expect(TEMPLATES["Hermes-2"].systemMessage.startsWith("你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型")).toBe(true);
    expect(buildPrompt({ template: "Hermes-2", system: "", question: "Q", numImageToken: 1 })).toBe(
      "<|im_start|>system\n<|im_end|><|im_start|>user\nQ<|im_end|><|im_start|>assistant\n",
    );
  });

  it("puts <image>\\n before the question when it has no placeholder, expanded to numImageToken·tiles context tokens", () => {
    expect(buildPrompt({ template: "internvl2_5", system: "S", question: "What is it?", numTiles: [3], numImageToken: 2 })).toBe(
      `<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n<img>${ctx(6)}</img>\nWhat is it?<|im_end|>\n<|im_start|>assistant\n`,
    );
  });

  it("expands placeholders in order, one per image", () => {
    expect(
      buildPrompt({
        template: "Hermes-2",
        system: "S",
        question: "Image-1: <image>\nImage-2: <image>\nSame?",
        numTiles: [1, 2],
        numImageToken: 3,
      }),
    ).toBe(
      `<|im_start|>system\nS<|im_end|><|im_start|>user\nImage-1: <img>${ctx(3)}</img>\nImage-2: <img>${ctx(6)}</img>\nSame?<|im_end|><|im_start|>assistant\n`,
    );
    // 256 tokens per tile, 12 tiles + thumbnail: the count a 448-pixel model sees for a 4:3 photo.
    const p = buildPrompt({ template: "internvl2_5", system: "S", question: "<image>\nQ", numTiles: [13], numImageToken: 256 });
    expect(p.split("<IMG_CONTEXT>").length - 1).toBe(3328);
  });

  it("renders several turns for training, answers closed like every message", () => {
    const turns = [
      { question: "<image>\nColor?", answer: "Red." },
      { question: "Shape?", answer: "A square." },
    ];
    expect(renderChat({ template: "internvl2_5", system: "S", turns, numTiles: [1], numImageToken: 1 })).toBe(
      "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n<img><IMG_CONTEXT></img>\nColor?<|im_end|>\n<|im_start|>assistant\nRed.<|im_end|>\n" +
        "<|im_start|>user\nShape?<|im_end|>\n<|im_start|>assistant\nA square.<|im_end|>\n",
    );
    expect(
      renderChat({ template: "Hermes-2", system: "S", turns: [...turns, { question: "Size?" }], numTiles: [1], numImageToken: 1 }),
    ).toBe(
      "<|im_start|>system\nS<|im_end|><|im_start|>user\n<img><IMG_CONTEXT></img>\nColor?<|im_end|><|im_start|>assistant\nRed.<|im_end|>" +
        "<|im_start|>user\nShape?<|im_end|><|im_start|>assistant\nA square.<|im_end|><|im_start|>user\nSize?<|im_end|><|im_start|>assistant\n",
    );
  });

  it("refuses prompts that cannot be built", () => {
    const base = { template: "internvl2_5" as const, numImageToken: 4 };
    expect(() => buildPrompt({ ...base, question: "<image> and <image>", numTiles: [1] })).toThrow(/2 <image> placeholders but 1 images/);
    expect(() => buildPrompt({ ...base, question: "<image>", numTiles: [] })).toThrow(PromptError);
    expect(() => buildPrompt({ ...base, question: "Q", numTiles: [0] })).toThrow(/numTiles\[0\] must be a positive integer/);
    expect(() => buildPrompt({ ...base, question: "Q", numImageToken: 0 })).toThrow(/numImageToken/);
    expect(() => buildPrompt({ ...base, template: "chatml" as never, question: "Q" })).toThrow(/unknown conversation template "chatml"/);
    expect(() => renderChat({ ...base, turns: [{ question: "a" }, { question: "b", answer: "c" }] })).toThrow(/turn 0 has no answer/);
    expect(() => renderChat({ ...base, turns: [] })).toThrow(/at least one turn/);
  });
});

describe("token ids", () => {
  let tok: InternVLTokenizer;
  beforeAll(async () => {
    tok = await writeWordLevelTokenizer(join(dir, "tok"), [
      "color",
      "shape",
      "?",
      "red",
      "a",
      "square",
      ".",
      "be",
      "brief",
      "system",
      "user",
      "assistant",
    ]);
  });

  it("encodeChat marks exactly each answer and its <|im_end|> as completion", () => {
    const e = encodeChat(tok, {
      template: "internvl2_5",
      system: "be brief",
      numTiles: [1],
      numImageToken: 2,
      turns: [
        { question: "color?", answer: "red." },
        { question: "shape?", answer: "a square." },
      ],
    });
    const tokens = e.inputIds.map((id) => tok.idToToken(id));
    const completion = tokens.filter((_, i) => e.completionMask[i] === 1);
    expect(completion).toEqual(["red", ".", "<|im_end|>", "a", "square", ".", "<|im_end|>"]);
    expect(tokens.slice(0, e.promptLength)).toEqual([
      "<|im_start|>",
      "system",
      "\n",
      "be",
      "brief",
      "<|im_end|>",
      "\n",
      "<|im_start|>",
      "user",
      "\n",
      "<img>",
      "<IMG_CONTEXT>",
      "<IMG_CONTEXT>",
      "</img>",
      "\n",
      "color",
      "?",
      "<|im_end|>",
      "\n",
      "<|im_start|>",
      "assistant",
      "\n",
    ]);
    expect(tokens[e.promptLength + 3]).toBe("\n"); // the newline after the first answer's <|im_end|> is context
    expect(e.completionMask[e.promptLength + 3]).toBe(0);
  });

  it("piecewise ids equal the ids of the whole rendered string (property, both templates)", () => {
    const text = fc
      .array(fc.constantFrom("color", "shape", "?", "red", "a", "square", ".", "zebra", "<image>", "\n"), { maxLength: 6 })
      .map((w) => w.join(" "));
    fc.assert(
      fc.property(
        fc.constantFrom("internvl2_5" as const, "Hermes-2" as const),
        fc.array(fc.tuple(text, text), { minLength: 1, maxLength: 3 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 3 }),
        (template, qa, open, perTile) => {
          const turns = qa.map(([question, answer], i) => (open && i === qa.length - 1 ? { question } : { question, answer }));
          const placeholders = turns.reduce((n, t) => n + t.question.split("<image>").length - 1, 0);
          const numTiles = Array.from({ length: placeholders || 1 }, (_, i) => 1 + (i % 3));
          const opts = { template, system: "be brief", turns, numTiles, numImageToken: perTile };
          const e = encodeChat(tok, opts);
          expect(e.inputIds).toEqual(tok.encode(renderChat(opts)));
          expect(e.inputIds.filter((id) => id === tok.specialIds.imgContext).length).toBe(perTile * numTiles.reduce((a, b) => a + b, 0));
        },
      ),
      { numRuns: 40 },
    );
  });

  it("encodePrompt inserts image ids directly and agrees with encoding buildPrompt's string", () => {
    const opts = { template: "internvl2_5" as const, question: "color?", numTiles: [5, 1], numImageToken: 64 };
    const ids = encodePrompt(tok, opts);
    expect(ids).toEqual(tok.encode(buildPrompt(opts)));
    expect(ids.filter((id) => id === tok.specialIds.imgContext).length).toBe(384);
    expect(ids.slice(-3).map((id) => tok.idToToken(id))).toEqual(["<|im_start|>", "assistant", "\n"]);
  });
});

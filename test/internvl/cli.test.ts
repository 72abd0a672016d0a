import { writeFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { afterEach, describe, expect, it, vi } from "vitest";
import { generateCommand } from "../../src/cli/commands/generate.js";
import { initModel } from "../../src/cli/commands/init-model.js";
import { UsageError } from "../../src/cli/args.js";
import { iv, tempDir } from "./helpers.js";

/** Run a command, returning what it printed to stdout and stderr. */
async function run(cmd: { run(argv: string[]): Promise<void> }, argv: string[]): Promise<{ out: string; err: string }> {
  const out: string[] = [],
    err: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((...a) => {
    out.push(a.join(" "));
  });
  const error = vi.spyOn(console, "error").mockImplementation((...a) => {
    err.push(a.join(" "));
  });
  try {
    await cmd.run(argv);
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
  return { out: out.join("\n"), err: err.join("\n") };
}
afterEach(() => vi.restoreAllMocks());

describe("anchorgrad init-model + generate", () => {
  it("make a model directory and answer a prompt about an image with it", async () => {
    const dir = tempDir("cli");
    const made = await run(initModel, ["--preset", "tiny", "--layout", "hf", "--seed", "7", "--out", dir]);
    expect(made.out).toMatch(/wrote .*: tiny \(hf layout\), 147,520 parameters, vocabulary 285, seed 7/);
    const image = join(dir, "img.png");
    await sharp({ create: { width: 90, height: 60, channels: 3, background: { r: 200, g: 30, b: 30 } } })
      .png()
      .toFile(image);
    const args = ["--model", dir, "--image", image, "--prompt", "What color is the circle?", "--max-new-tokens", "5", "--system", ""];
    const r = await run(generateCommand, args);
    expect(r.out.split(" ").filter(Boolean).length).toBeGreaterThan(0);
    expect(r.err).toMatch(/^\d+ tokens in [\d.]+ s: [\d.]+ tokens\/s \(prompt \d+ tokens, \d+ tiles, prefill \d+ ms, cpu\)$/);
    expect((await run(generateCommand, [...args, "--no-jit"])).out).toBe(r.out); // op by op: the same answer
    const m = await iv.load(dir);
    expect(m.config.layout).toBe("hf");
  });

  it("uses a custom word list", async () => {
    const dir = tempDir("cli-words");
    const words = join(tempDir("words"), "words.txt");
    writeFileSync(words, "red\nblue\ncircle\n");
    await run(initModel, ["--out", dir, "--words", words]);
    const m = await iv.load(dir);
    expect(m.config.text.vocabSize).toBe(1 + 3 + 1 + 12);
    expect(m.tokenizer!.encode("blue circle")).toEqual([2, 3]);
  });

  it("gives clear errors for bad input", async () => {
    const dir = tempDir("cli-bad");
    await run(initModel, ["--out", dir, "--seed", "1"]);
    await expect(run(initModel, ["--out", dir])).rejects.toThrow(/already holds a model .* --force/);
    await expect(run(initModel, ["--out", dir, "--layout", "torch"])).rejects.toThrow(UsageError);
    await expect(run(initModel, ["--out", tempDir("x"), "--preset", "internvl3-1b"])).rejects.toThrow(/needs its checkpoint's tokenizer/);
    const notImage = join(dir, "notes.png");
    writeFileSync(notImage, "this is text");
    await expect(run(generateCommand, ["--model", dir, "--image", notImage, "--prompt", "hi"])).rejects.toThrow(
      /notes\.png: not a decodable image/,
    );
    await expect(run(generateCommand, ["--model", tempDir("nomodel"), "--prompt", "hi"])).rejects.toThrow(/not a model directory/);
    await expect(run(generateCommand, ["--model", dir, "--prompt", "hi", "--max-new-tokens", "5000"])).rejects.toThrow(
      /exceeds the context of 2048 positions/,
    );
    await expect(run(generateCommand, ["--model", dir, "--prompt", "hi", "--top-p", "2"])).rejects.toThrow(
      /--top-p <number>' argument '2' is invalid\. must be a number in \(0, 1\]/,
    );
  });
});

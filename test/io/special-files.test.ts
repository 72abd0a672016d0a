/**
 * Files that are not regular files, given where a model, config, tokenizer,
 * image or data file is expected, are refused before they are opened: a
 * FIFO would block the open forever, /dev/zero would never end. Each test
 * has a short timeout, so a regression fails instead of hanging the suite.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readMpoJsonl, readPope } from "../../src/data/index.js";
import { openCheckpoint, openSafetensors } from "../../src/io/safetensors.js";
import { decodeImage } from "../../src/models/internvl/image.js";
import { load } from "../../src/models/internvl/checkpoint.js";
import { loadTokenizer } from "../../src/models/internvl/tokenizer.js";
import { AnchorError } from "../../src/tensor/errors.js";
import { tempDir } from "./helpers.js";

const dir = tempDir("special");
let n = 0;
const fifo = (name: string): string => {
  const d = join(dir, `f${n++}`);
  mkdirSync(d);
  execFileSync("mkfifo", [join(d, name)]);
  return join(d, name);
};
const FAST = 5000;
const refused = /is a FIFO \(named pipe\), not a regular file; refused without opening it/;

describe("a FIFO is refused before it is opened", () => {
  it("as the model file (openSafetensors)", { timeout: FAST }, async () => {
    await expect(openSafetensors(fifo("model.safetensors"))).rejects.toThrow(refused);
  });

  it("as model.safetensors in a model directory", { timeout: FAST }, async () => {
    const f = fifo("model.safetensors");
    await expect(openCheckpoint(join(f, ".."))).rejects.toThrow(refused);
  });

  it("as a shard index (model.safetensors.index.json)", { timeout: FAST }, async () => {
    const f = fifo("model.safetensors.index.json");
    await expect(openCheckpoint(join(f, ".."))).rejects.toThrow(refused);
  });

  it("as config.json", { timeout: FAST }, async () => {
    const f = fifo("config.json");
    await expect(load(join(f, ".."))).rejects.toThrow(refused);
  });

  it("as tokenizer.json", { timeout: FAST }, async () => {
    const f = fifo("tokenizer.json");
    await expect(loadTokenizer(join(f, ".."))).rejects.toThrow(refused);
  });

  it("as an image", { timeout: FAST }, async () => {
    await expect(decodeImage(fifo("a.png"))).rejects.toThrow(refused);
  });

  it("as a JSONL data file", { timeout: FAST }, () => {
    expect(() => readMpoJsonl(fifo("pairs.jsonl"))).toThrow(refused);
    expect(() => readPope(fifo("pope.jsonl"))).toThrow(refused);
  });

  it("as the image of a data row: a bad row naming file, line and image", { timeout: FAST }, () => {
    const img = fifo("a.png");
    const f = join(img, "..", "pairs.jsonl");
    writeFileSync(f, JSON.stringify({ image: "a.png", question: "Q", chosen: "a", rejected: "b" }) + "\n");
    expect(() => readMpoJsonl(f)).toThrow(/pairs\.jsonl:1: image ".*a\.png": is a FIFO/);
  });
});

describe("a device or a directory is refused before it is opened", () => {
  it("/dev/zero as the model file", { timeout: FAST }, async () => {
    await expect(openSafetensors("/dev/zero")).rejects.toThrow(/\/dev\/zero: is a character device, not a regular file/);
  });

  it("a directory as the model file, the image or the data file", { timeout: FAST }, async () => {
    await expect(openSafetensors(dir)).rejects.toThrow(/is a directory, not a regular file/);
    await expect(decodeImage(dir)).rejects.toThrow(/is a directory, not a regular file/);
    expect(() => readMpoJsonl(dir)).toThrow(/is a directory, not a regular file/);
  });

  it("each refusal is an AnchorError", { timeout: FAST }, async () => {
    const errors = await Promise.all([openSafetensors("/dev/zero"), decodeImage(dir)].map((p) => p.catch((e: unknown) => e)));
    for (const e of errors) expect(e).toBeInstanceOf(AnchorError);
  });
});

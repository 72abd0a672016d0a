/**
 * POPE evaluation runs the tiny InternVL's forward jitted, one compiled
 * program per batch shape (collate pads lengths to multiples of 16), and
 * gets the eager pass's margins exactly: both run the same staged batches
 * through the same primitives, and the cpu's fused kernels are
 * bit-identical to the single-op ones.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { generateShapes, readPope, type PopeRow } from "../../src/data/index.js";
import { createModel } from "../../src/models/internvl/checkpoint.js";
import type { InternVLParams } from "../../src/models/internvl/params.js";
import { sequenceLogps } from "../../src/objectives/sequence-logps.js";
import { popePass, yesNoMargins } from "../../src/train/eval.js";
import { scoreSequences, stageSequences } from "../../src/train/scoring.js";
import { PAD_MULTIPLE, type Sequence } from "../../src/train/examples.js";
import { evaluatePope, internvlModel, PixelCache, type VisionLanguageModel } from "../../src/train/index.js";

const root = mkdtempSync(join(tmpdir(), "ag-pope-jit-"));
let model: VisionLanguageModel<InternVLParams>, params: InternVLParams, rows: PopeRow[], imageTokenId: number;

beforeAll(async () => {
  const manifest = await generateShapes({ out: join(root, "data"), seed: 7, sftImages: 2, pairImages: 2, evalImages: 6, imageSize: 56 });
  const made = await createModel(join(root, "model"), { preset: "tiny", layout: "original", seed: 5, words: manifest.words });
  model = internvlModel(made);
  params = made.params;
  imageTokenId = made.config.imageTokenId;
  rows = [...readPope(join(root, "data", manifest.pope.random)), ...readPope(join(root, "data", manifest.pope.adversarial))];
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

it("jitted POPE margins equal the eager ones, from a handful of compiled programs", async () => {
  const cache = new PixelCache(model);
  try {
    // questions of 7 lengths: the shapes data's all have one, so each gets 0-6 more of its own words
    const prompts: Sequence[] = [];
    for (const [i, r] of rows.entries()) {
      const words = r.question.split(" ");
      const question = [...Array.from({ length: i % 7 }, () => words[words.length - 2]!), ...words].join(" ");
      prompts.push({ prompt: model.encodePrompt(question, (await cache.get([r.image])).tiles), completion: [], images: [r.image] });
    }
    const batchSize = 4;
    const eager = await yesNoMargins(model, params, prompts, cache, batchSize, { jit: false });
    const compiled = await yesNoMargins(model, params, prompts, cache, batchSize);
    expect(compiled).toEqual(eager);
    expect(compiled.every(Number.isFinite)).toBe(true);

    // one trace per batch shape: (rows, length padded to 16, tiles), far fewer than batches or question lengths
    const shapes = new Set<string>();
    for (let i = 0; i < prompts.length; i += batchSize) {
      const part = prompts.slice(i, i + batchSize);
      const T = Math.ceil(Math.max(...part.map((s) => s.prompt.length)) / PAD_MULTIPLE) * PAD_MULTIPLE;
      shapes.add(`${part.length}x${T}`);
    }
    const lengths = new Set(prompts.map((s) => s.prompt.length));
    expect(lengths.size).toBe(7);
    expect(popePass(model).jitted.traces).toBe(shapes.size);
    expect(shapes.size).toBeLessThan(Math.ceil(prompts.length / batchSize));
    // a second pass over the same prompts compiles nothing
    await yesNoMargins(model, params, prompts, cache, batchSize);
    expect(popePass(model).jitted.traces).toBe(shapes.size);
  } finally {
    await cache.clear();
  }
});

it("evaluatePope gives the same scores with and without jit, and keeps memory flat", async () => {
  const splits = { random: rows.slice(0, 10), adversarial: rows.slice(10, 20) };
  const eager = await evaluatePope(model, params, splits, { jit: false, batchSize: 8 });
  await evaluatePope(model, params, splits, { batchSize: 8 }); // compiles
  const before = ag.memoryStats().cpu?.tensors ?? 0;
  expect(await evaluatePope(model, params, splits, { batchSize: 8 })).toEqual(eager);
  expect(ag.memoryStats().cpu?.tensors ?? 0).toBe(before);
});

it("text-only sequences score through the jitted pass as op by op (the adapter checks their ids before the trace)", async () => {
  const words = model.encodeReply("Is there a red circle");
  const seqs: Sequence[] = [
    { prompt: model.encodePrompt("Is there a red circle?", []), completion: words, images: [] },
    { prompt: model.encodePrompt("Is there a blue square?", []), completion: words.slice(1), images: [] },
  ];
  const [jitted, eager] = ag.scope(() => {
    const c = stageSequences(model, seqs, [null, null], undefined);
    const e = sequenceLogps(model.forward(params, c.inputs), c.labels, c.mask).sum;
    return [scoreSequences(model, params, seqs, [null, null]).sum.dataSync(), e.dataSync()];
  });
  expect(Array.from(jitted)).toEqual(Array.from(eager));
  const bad = [{ ...seqs[0]!, prompt: [...seqs[0]!.prompt, imageTokenId] }];
  expect(() => ag.scope(() => scoreSequences(model, params, bad, [null]))).toThrow(/<IMG_CONTEXT> tokens .* but the batch has no images/);
});

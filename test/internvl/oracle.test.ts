/**
 * The whole model against an independent PyTorch forward pass
 * (test/oracle/internvl.py, written from INTERNVL.md): tiny models saved by
 * us in both layouts, two images (three tiles) in a batch of two prompts,
 * at the configured tile size and at two others (resized position
 * embeddings). One python process for every case.
 */
import { beforeAll, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { describeOracle, runOracle, toWire } from "../helpers/torch.js";
import { iv, jitter, maxAbsDiff, tempDir, twoImagePrompt } from "./helpers.js";

interface Case {
  name: string;
  dir: string;
  config: ag.models.internvl.InternVLConfig;
  params: ag.models.internvl.InternVLParams;
  inputIds: ag.Tensor;
  pixelValues: ag.Tensor;
}

describeOracle("InternVL forward vs PyTorch", () => {
  const cases: Case[] = [];
  let results: { logits: { shape: number[]; data: number[] } }[] = [];

  beforeAll(async () => {
    const variants = [
      { preset: "tiny", layout: "original", size: 56, tokens: 16 },
      { preset: "tiny-qwen3", layout: "hf", size: 56, tokens: 16 },
      { preset: "tiny", layout: "hf", size: 42, tokens: 9 },
      { preset: "tiny-qwen3", layout: "original", size: 70, tokens: 25 }, // a 10×10 grid, shuffled to 5×5
    ] as const;
    for (const [k, v] of variants.entries()) {
      const dir = tempDir(`oracle-${k}`);
      const made = await iv.createModel(dir, { preset: v.preset, layout: v.layout, seed: 100 + k });
      // non-trivial biases, norms and layer scales, saved and loaded back as the oracle will read them
      await iv.save(dir, made.config, jitter(made.params, 200 + k, 0.15));
      const m = await iv.load(dir);
      cases.push({
        name: `${v.preset}, ${v.layout} layout, ${v.size}-px tiles`,
        dir,
        config: m.config,
        params: m.params,
        inputIds: twoImagePrompt(m.config, 2, 1, v.tokens),
        pixelValues: ag.randomNormal([3, 3, v.size, v.size], { seed: 300 + k }),
      });
    }
    const out = await runOracle<{ results: typeof results }>("internvl.py", {
      cases: cases.map((c) => ({
        dir: c.dir,
        imageTokenId: c.config.imageTokenId,
        inputIds: c.inputIds.arraySync(),
        pixelValues: toWire(c.pixelValues),
      })),
    });
    results = out.results;
  }, 300_000);

  for (let k = 0; k < 4; k++) {
    it(`case ${k}: logits agree to 1e-4 in float32`, () => {
      const c = cases[k]!;
      const ours = iv.forward(c.config, c.params, { inputIds: c.inputIds, pixelValues: c.pixelValues });
      const ref = results[k]!.logits;
      expect(ref.shape).toEqual([...ours.shape]);
      const spread = Math.max(...ref.data.map(Math.abs));
      expect(spread).toBeGreaterThan(0.1); // the logits are not trivially small
      const diff = maxAbsDiff(ours.dataSync(), ref.data);
      if (process.env.ANCHORGRAD_VERBOSE) console.log(`${c.name}: max |Δ| ${diff.toExponential(2)}, max |logit| ${spread.toFixed(2)}`);
      expect(diff, c.name).toBeLessThan(1e-4);
    });
  }
});

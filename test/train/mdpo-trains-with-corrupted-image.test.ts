/**
 * mDPO trains: the loop scores the chosen replies with a corrupted image
 * (a random crop keeping 1–20% of each tile, resized back), under the policy
 * and the reference, and hands them to the objective as the no-image log-probs.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { generateShapes, readMpoMeta, type PreferenceRow } from "../../src/data/index.js";
import * as objectives from "../../src/objectives/index.js";
import { sgd } from "../../src/optim/index.js";
import { corruptPixels } from "../../src/train/corrupt.js";
import { specUses } from "../../src/train/objectives.js";
import { train } from "../../src/train/index.js";
import { initStandinParams, standinModel, type StandinParams } from "./standin.js";

const tmp = (p: string) => mkdtempSync(join(tmpdir(), `ag-mdpo-${p}-`));
let pairs: PreferenceRow[], model: ReturnType<typeof standinModel>, params: StandinParams;

beforeAll(async () => {
  const data = tmp("data");
  const m = await generateShapes({ out: data, seed: 6, sftImages: 2, pairImages: 6, evalImages: 2, imageSize: 16 });
  pairs = readMpoMeta(join(data, m.pairsMeta)).rows;
  model = standinModel(m.words);
  params = initStandinParams(model.vocab, 5);
});

const mdpoRun = (out: string, corruptedImage: boolean) =>
  train({
    model,
    params,
    objective: objectives.mdpo({ beta: 0.1 }),
    data: pairs,
    optimizer: sgd({ lr: 0.1 }),
    steps: 3,
    batchSize: 2,
    out,
    progress: false,
    corruptedImage,
  });

describe("mDPO in the loop", () => {
  it("corruptPixels crops each tile to a small window, deterministically, keeping shape and source values", async () => {
    const values = Float32Array.from({ length: 2 * 3 * 16 * 16 }, (_, i) => i);
    const px = { pixelValues: ag.tensor(values, { shape: [2, 3, 16, 16] }), tiles: [2] };
    const a = await corruptPixels(px, 7);
    const b = await corruptPixels(px, 7);
    expect(a.pixelValues.shape).toEqual([2, 3, 16, 16]);
    expect(a.tiles).toEqual([2]);
    const da = Array.from(a.pixelValues.dataSync());
    expect(da).toEqual(Array.from(b.pixelValues.dataSync()));
    expect(da).not.toEqual(Array.from(values));
    // every value comes from the same tile and channel, and at most ~20% of a tile's pixels survive
    for (let tc = 0; tc < 6; tc++) {
      const plane = da.slice(tc * 256, (tc + 1) * 256);
      expect(plane.every((v) => v >= tc * 256 && v < (tc + 1) * 256)).toBe(true);
      expect(new Set(plane).size).toBeLessThanOrEqual(Math.ceil(0.2 * 256) + 16);
    }
    expect(Array.from((await corruptPixels(px, 8)).pixelValues.dataSync())).not.toEqual(da);
  });

  it("trains with the corrupted-image pass and logs the image margin", async () => {
    const run = await mdpoRun(tmp("run"), true);
    expect(run.history).toHaveLength(3);
    for (const r of run.history) {
      expect(Number.isFinite(r.loss)).toBe(true);
      expect(Number.isFinite(r["mdpo/image_margin"])).toBe(true);
    }
    // policy = reference at the first step, so 0 up to float32 rounding (the reference was scored in other
    // batches, and a native BLAS rounds a row differently by its place in the batch)
    expect(Math.abs(run.history[0]!["mdpo/image_margin"]!)).toBeLessThan(1e-6);
  });

  it("without the pass mdpo cannot run, and the config turns the pass on for mdpo, alone or weighted", async () => {
    await expect(mdpoRun(tmp("none"), false)).rejects.toThrow(/policyChosenLogpsNoImage/);
    expect(specUses({ name: "mdpo" }, "mdpo")).toBe(true);
    expect(
      specUses(
        {
          name: "weighted",
          terms: [
            [{ name: "dpo" }, 1],
            [{ name: "mdpo", beta: 0.2 }, 0.5],
          ],
        },
        "mdpo",
      ),
    ).toBe(true);
    expect(specUses({ name: "dpo" }, "mdpo")).toBe(false);
  });
});

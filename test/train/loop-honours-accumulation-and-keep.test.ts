/**
 * The loop honours the config's gradientAccumulationSteps (k passes of b pairs
 * step like one pass of k·b pairs) and keepCheckpoints (only the newest K stay).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { generateShapes, readMpoMeta, type PreferenceRow } from "../../src/data/index.js";
import * as objectives from "../../src/objectives/index.js";
import { sgd } from "../../src/optim/index.js";
import { listCheckpoints, train } from "../../src/train/index.js";
import { initStandinParams, standinModel, type StandinParams } from "./standin.js";

const tmp = (p: string) => mkdtempSync(join(tmpdir(), `ag-loop-${p}-`));
let pairs: PreferenceRow[], model: ReturnType<typeof standinModel>, params: StandinParams;

beforeAll(async () => {
  const data = tmp("data");
  const m = await generateShapes({ out: data, seed: 3, sftImages: 2, pairImages: 8, evalImages: 2, imageSize: 16 });
  pairs = readMpoMeta(join(data, m.pairsMeta)).rows;
  model = standinModel(m.words);
  params = initStandinParams(model.vocab, 4);
});

const run = (
  out: string,
  o: { batchSize: number; gradientAccumulationSteps?: number; steps?: number; saveEvery?: number; keepCheckpoints?: number },
) =>
  train({
    model,
    params,
    objective: objectives.dpo({ beta: 0.1 }),
    data: pairs,
    optimizer: sgd({ lr: 0.5 }),
    steps: o.steps ?? 2,
    seed: 2,
    out,
    maxGradNorm: null,
    progress: false,
    ...o,
  });

describe("train", () => {
  it("gradientAccumulationSteps: 2 passes of 2 pairs = 1 pass of 4 pairs", async () => {
    const one = await run(tmp("b4"), { batchSize: 4 });
    const acc = await run(tmp("b2x2"), { batchSize: 2, gradientAccumulationSteps: 2 });
    for (const k of ["loss", "rewards/margins", "epoch"]) expect(acc.history[1]![k]).toBeCloseTo(one.history[1]![k]!, 5);
    const a = ag.treeLeaves(acc.params),
      b = ag.treeLeaves(one.params);
    const maxDiff = Math.max(...a.map((t, i) => ag.max(ag.abs(ag.sub(t, b[i]!))).item()));
    expect(maxDiff).toBeLessThan(1e-5);
    // and differs from a run that saw only 2 pairs per step
    const small = await run(tmp("b2"), { batchSize: 2 });
    expect(small.history[1]!.loss).not.toBeCloseTo(one.history[1]!.loss!, 5);
  });

  it("keepCheckpoints keeps only the newest K", async () => {
    const out = tmp("keep");
    await run(out, { batchSize: 2, steps: 5, saveEvery: 1, keepCheckpoints: 3 });
    expect(await listCheckpoints(out)).toEqual([3, 4, 5]);
  });
});

/** evalEvery / evalData: every N steps (and after the last) the objective's loss and metrics on held-out pairs are logged as eval/... */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { generateShapes, readMpoMeta, type PreferenceRow } from "../../src/data/index.js";
import * as objectives from "../../src/objectives/index.js";
import { sgd } from "../../src/optim/index.js";
import { trainConfigSchema } from "../../src/train/config-schema.js";
import { pairEvaluator } from "../../src/train/evaluate.js";
import { train } from "../../src/train/index.js";
import { initStandinParams, standinModel, type StandinParams } from "./standin.js";

const tmp = (p: string) => mkdtempSync(join(tmpdir(), `ag-eval-${p}-`));
let pairs: PreferenceRow[], model: ReturnType<typeof standinModel>, params: StandinParams;

beforeAll(async () => {
  const data = tmp("data");
  const m = await generateShapes({ out: data, seed: 8, sftImages: 2, pairImages: 8, evalImages: 2, imageSize: 16 });
  pairs = readMpoMeta(join(data, m.pairsMeta)).rows;
  model = standinModel(m.words);
  params = initStandinParams(model.vocab, 3);
});

describe("evaluation during training", () => {
  it("logs eval/* every N steps and after the last, from the current parameters", async () => {
    const objective = objectives.dpo({ beta: 0.1 });
    const held = pairs.slice(0, 3);
    const evaluator = await pairEvaluator(model, objective, held, { reference: params, batchSize: 4 });
    const before = await evaluator.run(params);
    expect(before["eval/loss"]).toBeCloseTo(Math.log(2), 5); // policy = reference: every margin is 0
    expect(before["eval/rewards/margins"]).toBe(0);
    const run = await train({
      model,
      params,
      objective,
      data: pairs.slice(3),
      optimizer: sgd({ lr: 1 }),
      steps: 5,
      batchSize: 2,
      out: tmp("run"),
      progress: false,
      evaluate: { every: 2, run: (p) => evaluator.run(p) },
    });
    expect(run.history.map((r) => "eval/loss" in r)).toEqual([false, true, false, true, true]);
    expect(run.history[4]!["eval/loss"]).not.toBeCloseTo(Math.log(2), 5);
    expect(Object.keys(run.history[1]!)).toEqual(expect.arrayContaining(["eval/rewards/margins", "eval/rewards/accuracies"]));
    await evaluator.dispose();
  });

  it("the config's evalEvery needs evalData", () => {
    const base = { model: "m", data: "d.jsonl", objective: { name: "dpo" }, optimizer: { lr: 1e-3 } };
    expect(trainConfigSchema.safeParse({ ...base, evalEvery: 10 }).error?.issues[0]).toMatchObject({
      path: ["evalEvery"],
      message: "evalEvery needs evalData (the held-out pairs to evaluate on)",
    });
    expect(trainConfigSchema.safeParse({ ...base, evalData: "held.jsonl", evalEvery: 10 }).success).toBe(true);
  });
});

/** `anchorgrad train --config`: config checking, objectives by name, an end-to-end run on a model directory. */
import { appendFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { generateShapes } from "../../src/data/index.js";
import { createModel, load } from "../../src/models/internvl/index.js";
import { objectiveFromSpec, readTrainConfig, trainFromConfig } from "../../src/train/index.js";

const tmp = (p: string) => mkdtempSync(join(tmpdir(), `ag-config-${p}-`));
const f64 = (xs: number[]) => ag.tensor(xs, { dtype: "float64" });
const batch = {
  policyChosenLogps: f64([-3, -4]),
  policyRejectedLogps: f64([-5, -4.5]),
  refChosenLogps: f64([-3.5, -4]),
  refRejectedLogps: f64([-4, -4]),
  chosenLengths: f64([3, 4]),
  rejectedLengths: f64([3, 4]),
};

describe("objectiveFromSpec", () => {
  it("builds objectives by name with their options", () => {
    const a = objectiveFromSpec({ name: "dpo", beta: 0.5 })(batch).loss.item();
    expect(a).toBeCloseTo(ag.objectives.dpo({ beta: 0.5 })(batch).loss.item(), 12);
    expect(objectiveFromSpec({ name: "acpo", delta: 0.02 })(batch).metrics).toHaveProperty(["acpo/alpha"]);
    const w = objectiveFromSpec({
      name: "weighted",
      terms: [
        [{ name: "dpo" }, 0.8],
        [{ name: "sft" }, 1],
      ],
    })(batch).loss.item();
    expect(w).toBeCloseTo(0.8 * ag.objectives.dpo()(batch).loss.item() + ag.objectives.sft()(batch).loss.item(), 10);
  });

  it("names unknown objectives and bad terms", () => {
    expect(() => objectiveFromSpec({ name: "dpoo" })).toThrow(/unknown objective "dpoo"; known: dpo, /);
    expect(() => objectiveFromSpec({ name: "weighted", terms: [[{ name: "dpo" }, "x"]] })).toThrow(/objective\.terms\[0\]/);
    expect(() => objectiveFromSpec({ name: "dpo", betaa: 1 })).toThrow(/betaa/);
  });
});

describe("readTrainConfig", () => {
  const write = (o: unknown) => {
    const f = join(tmp("cfg"), "c.json");
    writeFileSync(f, JSON.stringify(o));
    return f;
  };
  const ok = { model: "m", data: "d.jsonl", objective: { name: "dpo" }, optimizer: { name: "adamw", lr: 1e-3 } };

  it("resolves paths against the config's folder and fills defaults", () => {
    const f = write(ok);
    const c = readTrainConfig(f);
    expect(c.model).toBe(join(f, "..", "m"));
    expect(c).toMatchObject({ kind: "preference", batchSize: 8, seed: 0, maxGradNorm: 1, skipBad: false });
    expect(readTrainConfig(f, { skipBad: true, steps: 3 })).toMatchObject({ skipBad: true, steps: 3 });
  });

  it.each([
    [{ ...ok, lr: 1 }, /c\.json: unknown key "lr"; valid keys: .*\(fields: docs\/train\.md\)/],
    [{ ...ok, model: 3 }, /model: Invalid input: expected string, received number/],
    [{ ...ok, optimizer: { name: "adam", lr: 1 } }, /optimizer\.name: Invalid option: expected one of "adamw"\|"sgd"/],
    [{ ...ok, optimizer: { name: "sgd" } }, /optimizer\.lr: Invalid input/],
    [{ ...ok, batchSize: 0 }, /batchSize: Too small: expected number to be >=1/],
    [{ ...ok, kind: "rlhf" }, /kind: Invalid option/],
  ])("rejects %j", (cfg, msg) => {
    expect(() => readTrainConfig(write(cfg))).toThrow(msg);
  });
});

describe("trainFromConfig", () => {
  it("trains a model directory on MPO data, skipping bad rows, and saves a loadable model", async () => {
    const dir = tmp("run");
    const shapes = await generateShapes({ out: join(dir, "data"), seed: 2, sftImages: 2, pairImages: 6, evalImages: 2, imageSize: 56 });
    appendFileSync(join(dir, "data", "pairs.jsonl"), '{"image": "images/pairs_0000.png", "question": "Q"}\n');
    await createModel(join(dir, "model"), { preset: "tiny", layout: "original", seed: 2 });
    const cfg = join(dir, "train.json");
    writeFileSync(
      cfg,
      JSON.stringify({
        model: "model",
        data: `data/${shapes.pairsMeta}`,
        objective: { name: "acpo", beta: 0.1 },
        optimizer: { name: "adamw", lr: { type: "cosine", peak: 1e-3, warmupRatio: 0.1 }, freeze: ["vision"] },
        steps: 2,
        batchSize: 2,
        out: "run",
      }),
    );
    await expect(trainFromConfig(readTrainConfig(cfg))).rejects.toThrow(/pairs\.jsonl:7: field "chosen" must be a string/);
    const logs: string[] = [];
    const run = await trainFromConfig(readTrainConfig(cfg, { skipBad: true }), { progress: false, log: (l) => logs.push(l) });
    expect(run.skipped).toHaveLength(1);
    expect(logs[0]).toMatch(/skipped 1 malformed rows/);
    expect(run.history.map((r) => r.step)).toEqual([1, 2]);
    const saved = await load(join(dir, "run", "model"));
    const before = await load(join(dir, "model"));
    // the vision tower was frozen: identical; the language model moved
    expect(Array.from(saved.params.vision.patchEmbed.weight.dataSync())).toEqual(
      Array.from(before.params.vision.patchEmbed.weight.dataSync()),
    );
    expect(Array.from(saved.params.language.norm.weight.dataSync())).not.toEqual(Array.from(before.params.language.norm.weight.dataSync()));
  });
});

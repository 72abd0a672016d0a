/**
 * The train loop speaks TRL (issue 14, item 3): `"objective": { "trl": {...} }`
 * in a train config, the v0.25 bco_pair running mean carried through passes
 * and checkpoints, and TRL's logits/chosen, logits/rejected and nll_loss.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { generateShapes, readMpoMeta, type PreferenceRow } from "../../src/data/index.js";
import * as objectives from "../../src/objectives/index.js";
import { adamw } from "../../src/optim/index.js";
import type { Objective } from "../../src/objectives/types.js";
import { readTrainConfig } from "../../src/train/config.js";
import { listCheckpoints, readTrainerState, train, type TrainOptions } from "../../src/train/index.js";
import { initStandinParams, standinModel, type StandinParams } from "./standin.js";
import { makeFixture, metricRows, runTrainer, type Fixture } from "./trainer-process.js";

const tmp = (p: string) => mkdtempSync(join(tmpdir(), `ag-trl-${p}-`));

describe("anchorgrad train with a TRL objective", () => {
  let fx: Fixture;
  beforeAll(async () => {
    fx = await makeFixture();
  }, 60_000);
  afterAll(() => fx?.cleanup());

  it('{ "trl": { "loss_type": "sigmoid", "beta": 0.1 } } trains and logs TRL\'s metrics', async () => {
    const r = await runTrainer([
      "--config",
      fx.config("trl-sigmoid", { objective: { trl: { loss_type: "sigmoid", beta: 0.1 } }, steps: 3 }),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/objective trl dpo 1 sigmoid/);
    const rows = metricRows(join(fx.root, "runs/trl-sigmoid"));
    expect(rows).toHaveLength(3);
    for (const row of rows) {
      for (const k of ["loss", "rewards/chosen", "rewards/margins", "logps/chosen", "logits/chosen", "logits/rejected"])
        expect(Number.isFinite(row[k]), `${k} = ${row[k]}`).toBe(true);
      expect(row).not.toHaveProperty("nll_loss"); // TRL main's sigmoid logs none
    }
    expect(rows[0]!.loss).toBeCloseTo(Math.LN2, 6); // policy = reference at step 1: −log σ(0)
  }, 120_000);

  it("a field TRL's version lacks fails before training, naming the version that has it", async () => {
    const r = await runTrainer(["--config", fx.config("trl-bad", { objective: { trl: { loss_type: "sigmoid", rpo_alpha: 1 } } })]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/has no field rpo_alpha; TRL v0\.25\.1 has it \(set version: "0\.25"\)/);
  }, 60_000);

  it("the config schema reports the TRL form's own errors, not the native form's", () => {
    const file = (objective: unknown) => {
      const f = join(fx.root, "schema.json");
      writeFileSync(f, JSON.stringify({ model: "m", data: "d.jsonl", optimizer: { lr: 1e-3 }, objective }));
      return f;
    };
    expect(() => readTrainConfig(file({ trl: { trainer: "kto" } }))).toThrow(
      /objective: trl\.trainer: Invalid option: expected one of "dpo"\|"cpo"\|"orpo"/,
    );
    expect(() => readTrainConfig(file({ trl: {}, beta: 0.1 }))).toThrow(/unknown key "beta".*valid keys: trl/);
    expect(() => readTrainConfig(file({ nam: "dpo" }))).toThrow(/objective: name: Invalid input/);
    expect(readTrainConfig(file({ trl: { loss_type: ["sigmoid", "sft"] } })).objective).toEqual({
      trl: { trainer: "dpo", loss_type: ["sigmoid", "sft"] },
    });
  });
});

describe("train with fromTrl objectives (in process)", () => {
  let rows: PreferenceRow[];
  let model: ReturnType<typeof standinModel>;
  beforeAll(async () => {
    const data = tmp("data");
    const manifest = await generateShapes({ out: data, seed: 5, sftImages: 2, pairImages: 12, evalImages: 1, imageSize: 16 });
    rows = readMpoMeta(join(data, manifest.pairsMeta)).rows;
    model = standinModel(manifest.words);
  }, 60_000);

  const run = (out: string, objective: Objective, extra: Partial<TrainOptions<StandinParams>> = {}) =>
    train({
      model,
      params: initStandinParams(model.vocab, 4),
      objective,
      data: rows,
      optimizer: adamw({ lr: 5e-3 }),
      steps: 6,
      batchSize: 3,
      gradientAccumulationSteps: 2,
      seed: 2,
      out,
      progress: false,
      handleSignals: false,
      ...extra,
    });

  /** Run until step `at` has been taken, then stop as Ctrl-C would (a checkpoint at `at`). */
  const stopAt = (out: string, objective: Objective, at: number, extra: Partial<TrainOptions<StandinParams>> = {}) => {
    const stop = new AbortController();
    return run(out, objective, { ...extra, signal: stop.signal, onStep: (r) => r.step === at && stop.abort() });
  };

  it("a v0.25 bco_pair run interrupted and resumed equals the uninterrupted run, state and all", async () => {
    const bco = () => objectives.fromTrl({ trainer: "dpo", version: "0.25", loss_type: "bco_pair", beta: 0.5 }) as unknown as Objective;
    const full = await run(tmp("full"), bco());
    const out = tmp("resumed");
    const first = await stopAt(out, bco(), 3);
    expect(first.step).toBe(3);
    const dir = join(out, "checkpoint-3");
    const saved = (await readTrainerState(dir)) as { objectiveState?: { running: { mean: number; count: number } | null } };
    // one RunningMoments update per pass: 3 steps of 2 accumulation passes (count starts at TRL's 1e-24)
    expect(saved.objectiveState?.running?.count).toBeCloseTo(6, 12);
    expect(Number.isFinite(saved.objectiveState?.running?.mean)).toBe(true);

    const second = await run(out, bco(), { resume: true });
    expect(second.history.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(second.history.map((r) => r.loss)).toEqual(full.history.map((r) => r.loss));
    expect(second.history).toEqual(full.history);

    // the state is what makes them equal: resuming from the same checkpoint with a fresh running mean does not
    const fresh = tmp("fresh");
    const again = await stopAt(fresh, bco(), 3);
    const state = JSON.parse(readFileSync(join(fresh, "checkpoint-3", "trainer_state.json"), "utf8"));
    state.objectiveState.running = null;
    writeFileSync(join(fresh, "checkpoint-3", "trainer_state.json"), JSON.stringify(state));
    expect(again.step).toBe(3);
    const wrong = await run(fresh, bco(), { resume: true });
    expect(wrong.history[3]!.loss).not.toBe(full.history[3]!.loss);
    expect(await listCheckpoints(fresh)).toEqual([3, 6]);
  }, 180_000);

  it("a checkpoint without the objective's state is refused unless forced", async () => {
    const out = tmp("nostate");
    const bco = objectives.fromTrl({ trainer: "dpo", version: "0.25", loss_type: "bco_pair" }) as unknown as Objective;
    await stopAt(out, bco, 1);
    const file = join(out, "checkpoint-1", "trainer_state.json");
    const state = JSON.parse(readFileSync(file, "utf8"));
    delete state.objectiveState;
    writeFileSync(file, JSON.stringify(state));
    await expect(run(out, bco, { resume: true })).rejects.toThrow(/checkpoint-1 has no objectiveState, which trl-dpo carries/);
    state.objectiveState = { running: { mean: "x", count: 1 }, labelSmoothing: 0 };
    writeFileSync(file, JSON.stringify(state));
    await expect(run(out, bco, { resume: true })).rejects.toThrow(/objectiveState has running \{"mean":"x","count":1\}/);
  }, 60_000);

  it("logits/chosen and logits/rejected are TRL's mean logit over completion tokens and the vocabulary; nll_loss where TRL logs it", async () => {
    const mpo = objectives.fromTrl({
      trainer: "dpo",
      version: "0.25",
      loss_type: ["sigmoid", "sft"],
      loss_weights: [1, 1],
    }) as unknown as Objective;
    const params = initStandinParams(model.vocab, 4);
    // one step over every pair: the logged metrics are of the initial parameters, whatever the shuffle
    const r = await run(tmp("logits"), mpo, { params, steps: 1, batchSize: rows.length, gradientAccumulationSteps: 1 });
    const row = r.history[0]!;

    /** Σ over completion positions of Σ_v logits, and the position count, one unpadded sequence at a time, in doubles. */
    const direct = async (side: "chosen" | "rejected") => {
      let total = 0,
        tokens = 0,
        vocab = 0;
      for (const pr of rows) {
        const px = await model.loadImages(pr.images);
        const prompt = model.encodePrompt(pr.question, px.tiles);
        const ids = [...prompt, ...model.encodeReply(side === "chosen" ? pr.chosen : pr.rejected!)];
        const inputIds = ag.tensor(ids, { shape: [1, ids.length], dtype: "int32" });
        const logits = model.forward(params, { inputIds, pixelValues: px.pixelValues, attentionMask: ag.ones([1, ids.length]) });
        const [, T, V] = logits.shape as [number, number, number];
        const x = logits.dataSync();
        // the logits at t score token t + 1: positions prompt.length − 1 .. T − 2
        for (let t = prompt.length - 1; t < T - 1; t++) for (let v = 0; v < V; v++) total += x[t * V + v]!;
        tokens += T - prompt.length;
        vocab = V;
        for (const t of [inputIds, logits, px.pixelValues]) t?.dispose();
      }
      return total / (tokens * vocab);
    };
    const chosen = await direct("chosen"),
      rejected = await direct("rejected");
    expect(Math.abs(chosen - rejected)).toBeGreaterThan(1e-4); // the two sides are told apart
    expect(Math.abs(row["logits/chosen"]! - chosen)).toBeLessThan(1e-5 * Math.max(1, Math.abs(chosen)));
    expect(Math.abs(row["logits/rejected"]! - rejected)).toBeLessThan(1e-5 * Math.max(1, Math.abs(rejected)));
    expect(Number.isFinite(row.nll_loss)).toBe(true); // v0.25 with sft in loss_type logs it
  }, 120_000);

  it("native objectives log no logits/* unless asked", async () => {
    const plain = await run(tmp("native"), objectives.dpo(), { steps: 1 });
    expect(plain.history[0]).not.toHaveProperty(["logits/chosen"]);
    const asked = await run(tmp("asked"), objectives.dpo(), { steps: 1, logitMetrics: true });
    expect(Number.isFinite(asked.history[0]!["logits/chosen"])).toBe(true);
  }, 60_000);
});

/** The training loop on a real (small) model: SFT, DPO, checkpoints, resume, Ctrl-C, memory, evaluation. */
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { generateShapes, readMpoMeta, readPope, type PreferenceRow, type ShapesManifest } from "../../src/data/index.js";
import * as objectives from "../../src/objectives/index.js";
import { adamw, warmupCosine } from "../../src/optim/index.js";
import {
  evaluatePope,
  listCheckpoints,
  PixelCache,
  encodeRows,
  popeScores,
  referenceLogps,
  train,
  visualReliance,
} from "../../src/train/index.js";
import { initStandinParams, standinModel, type StandinParams } from "./standin.js";

const tmp = (p: string) => mkdtempSync(join(tmpdir(), `ag-train-${p}-`));

let data: string, manifest: ShapesManifest, sftRows: PreferenceRow[], pairRows: PreferenceRow[];
let model: ReturnType<typeof standinModel>;
let sftParams: StandinParams;

beforeAll(async () => {
  data = tmp("data");
  manifest = await generateShapes({ out: data, seed: 5, sftImages: 32, pairImages: 24, evalImages: 8, imageSize: 16 });
  sftRows = readMpoMeta(join(data, manifest.sftMeta), { kind: "sft" }).rows;
  pairRows = readMpoMeta(join(data, manifest.pairsMeta)).rows;
  model = standinModel(manifest.words);
  const run = await train({
    model,
    params: initStandinParams(model.vocab, 1),
    objective: objectives.sft(),
    data: sftRows,
    optimizer: adamw({ lr: 3e-3, weightDecay: 0 }),
    steps: 40,
    batchSize: 8,
    seed: 1,
    out: tmp("sft"),
    progress: false,
  });
  sftParams = run.params;
});

describe("train (SFT rows)", () => {
  it("the SFT loss falls and only chosen-side metrics are logged", async () => {
    const sft = await train({
      model,
      params: initStandinParams(model.vocab, 2),
      objective: objectives.sft(),
      data: sftRows,
      optimizer: adamw({ lr: 3e-3 }),
      steps: 12,
      batchSize: 8,
      out: tmp("sft2"),
      progress: false,
    });
    const losses = sft.history.map((r) => r.loss!);
    expect(losses.length).toBe(12);
    expect(losses.slice(-3).reduce((a, b) => a + b) / 3).toBeLessThan(losses.slice(0, 3).reduce((a, b) => a + b) / 3);
    expect(Object.keys(sft.history[0]!).sort()).toEqual(["epoch", "grad_norm", "learning_rate", "logps/chosen", "loss", "step"]);
  });

  it("mixing SFT and preference rows is an error naming the row", async () => {
    await expect(
      train({
        model,
        params: sftParams,
        objective: objectives.dpo(),
        data: [...pairRows, sftRows[0]!],
        optimizer: adamw({ lr: 1e-3 }),
        steps: 1,
        batchSize: 2,
        out: tmp("mix"),
        progress: false,
      }),
    ).rejects.toThrow(/sft\.jsonl:1 has no "rejected" reply/);
  });
});

describe("train (preference rows)", () => {
  const dpoRun = (out: string, extra: Partial<Parameters<typeof train<StandinParams>>[0]> = {}) =>
    train({
      model,
      params: sftParams,
      objective: objectives.dpo({ beta: 0.1 }),
      data: pairRows,
      optimizer: adamw({ lr: warmupCosine({ peak: 2e-3, warmupSteps: 1, totalSteps: 6 }) }),
      steps: 6,
      batchSize: 4,
      seed: 9,
      out,
      progress: false,
      ...extra,
    });

  it("logs TRL's names every step, and DPO widens the margin", async () => {
    const out = tmp("dpo");
    // one batch of 4 pairs seen at every step, so the margins are comparable across steps
    const run = await dpoRun(out, { data: pairRows.slice(0, 4) });
    expect(run.history.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const k of [
      "loss",
      "rewards/chosen",
      "rewards/rejected",
      "rewards/margins",
      "rewards/accuracies",
      "logps/chosen",
      "logps/rejected",
      "grad_norm",
      "learning_rate",
      "epoch",
    ]) {
      expect(run.history[0]).toHaveProperty([k]);
    }
    // the first step's rewards are 0 (policy = reference) up to float32 rounding: the reference was scored in
    // other batches, and a native BLAS rounds a row differently by its place in the batch
    expect(Math.abs(run.history[0]!["rewards/margins"]!)).toBeLessThan(1e-6);
    expect(run.history[0]!.learning_rate).toBe(0);
    const margins = run.history.map((r) => r["rewards/margins"]!);
    expect(margins.at(-1)).toBeGreaterThan(margins[1]!);
    expect(margins.at(-1)).toBeGreaterThan(0);
    expect(readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n")).toHaveLength(6);
    expect(await listCheckpoints(out)).toEqual([6]);
    expect(readdirSync(out).filter((n) => n.includes(".tmp"))).toEqual([]);
    expect(readdirSync(join(out, "checkpoint-6")).sort()).toEqual(["model.safetensors", "optimizer.safetensors", "trainer_state.json"]);
  });

  it("resume after an interruption reproduces the uninterrupted losses exactly", async () => {
    const full = await dpoRun(tmp("full"));
    const out = tmp("resume");
    const stop = new AbortController();
    const first = await dpoRun(out, {
      signal: stop.signal,
      onStep: (r) => {
        if (r.step === 3) stop.abort();
      },
    });
    expect(first.interrupted).toBe(true);
    expect(first.step).toBe(3);
    expect(await listCheckpoints(out)).toEqual([3]);
    const second = await dpoRun(out, { resume: true });
    expect(second.interrupted).toBe(false);
    expect(second.history.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(second.history).toEqual(full.history);
    const a = ag.treeLeaves(second.params).map((t) => Array.from(t.dataSync()));
    const b = ag.treeLeaves(full.params).map((t) => Array.from(t.dataSync()));
    expect(a).toEqual(b);
  });

  it("resume refuses a checkpoint from another seed or objective, unless forced", async () => {
    const out = tmp("seed");
    await dpoRun(out, { steps: 1 });
    await expect(dpoRun(out, { resume: true, steps: 1, seed: 10 })).rejects.toThrow(
      /checkpoint-1 was made with another configuration \(seed: 9 → 10\)/,
    );
    await expect(dpoRun(out, { resume: true, steps: 1, objective: objectives.acpo() })).rejects.toThrow(/objective: "dpo" → "acpo"/);
    expect((await dpoRun(out, { resume: true, steps: 2, seed: 10, force: true })).step).toBe(2);
  });

  it("Ctrl-C saves a checkpoint after the current step and returns", async () => {
    const out = tmp("sigint");
    const run = await dpoRun(out, {
      onStep: (r) => {
        if (r.step === 2) process.emit("SIGINT", "SIGINT");
      },
    });
    expect(run.interrupted).toBe(true);
    expect(run.step).toBe(2);
    expect(await listCheckpoints(out)).toEqual([2]);
    expect(process.listenerCount("SIGINT")).toBe(0);
  });

  it("memory stays flat across steps (jitted, once each batch shape is compiled; and op by op)", async () => {
    const live: number[] = [];
    await dpoRun(tmp("mem"), { steps: 12, onStep: () => live.push(ag.memoryStats().cpu!.tensors) });
    expect(new Set(live.slice(6)).size).toBe(1);
    const eager: number[] = [];
    await dpoRun(tmp("mem-eager"), { steps: 8, jit: false, onStep: () => eager.push(ag.memoryStats().cpu!.tensors) });
    expect(new Set(eager.slice(1)).size).toBe(1);
  });

  it("the reference log-probs are computed once and cached by content", async () => {
    // scoring is jitted per model object, so forward runs when a program is traced: a fresh wrapper per call
    // makes "scored at all" visible in the count
    let forwards = 0;
    const counting = () => ({
      ...model,
      forward: (p: StandinParams, i: Parameters<typeof model.forward>[1]) => {
        forwards++;
        return model.forward(p, i);
      },
    });
    const cache = new PixelCache(model);
    const examples = await encodeRows(model, pairRows, cache);
    const file = join(tmp("ref"), "ref.json");
    const a = await referenceLogps(counting(), sftParams, examples, cache, 8, file);
    const n = forwards;
    expect(n).toBeGreaterThan(0);
    const b = await referenceLogps(counting(), sftParams, examples, cache, 8, file);
    expect(forwards).toBe(n);
    expect(b).toEqual(a);
    const other = initStandinParams(model.vocab, 3);
    const c = await referenceLogps(counting(), other, examples, cache, 8, file);
    expect(forwards).toBeGreaterThan(n);
    expect(c.chosen).not.toEqual(a.chosen);
    await cache.clear();
  });
});

describe("evaluation", () => {
  it("popeScores by hand", () => {
    // labels: y y n n; predictions: y n y n -> tp 1, fn 1, fp 1, tn 1
    expect(popeScores([true, true, false, false], [true, false, true, false])).toEqual({
      accuracy: 0.5,
      precision: 0.5,
      recall: 0.5,
      f1: 0.5,
      yesRatio: 0.5,
      n: 4,
    });
    expect(popeScores([true, false], [true, true])).toMatchObject({ accuracy: 0.5, precision: 0.5, recall: 1, yesRatio: 1 });
    expect(popeScores([false], [false]).f1).toBe(0);
  });

  it("POPE decisions are the sign of log p(Yes) − log p(No) after the prompt", async () => {
    const rows = readPope(join(data, manifest.pope.random)).slice(0, 6);
    const scores = await evaluatePope(model, sftParams, { random: rows });
    // recompute each decision from full-vocabulary log-probs
    const cache = new PixelCache(model);
    const yes = model.encodeReply("Yes")[0]!,
      no = model.encodeReply("No")[0]!;
    const preds: boolean[] = [];
    for (const r of rows) {
      const px = await cache.get([r.image]);
      const ids = model.encodePrompt(r.question, px.tiles);
      preds.push(
        ag.scope(() => {
          const logits = model.forward(sftParams, {
            inputIds: ag.tensor([ids], { dtype: "int32" }),
            pixelValues: px.pixelValues,
            attentionMask: ag.ones([1, ids.length]),
          });
          const last = ag.logSoftmax(ag.slice(logits, [0, ids.length - 1, 0], [1, ids.length, model.vocab])).dataSync();
          return last[yes]! > last[no]!;
        }),
      );
    }
    await cache.clear();
    expect(scores.random).toEqual(
      popeScores(
        rows.map((r) => r.label === "yes"),
        preds,
      ),
    );
  });

  it("visual reliance is finite, and 0 for a model that ignores the image", async () => {
    const vr = await visualReliance(model, sftParams, pairRows.slice(0, 6));
    expect(Number.isFinite(vr)).toBe(true);
    const blind = { ...sftParams, image: ag.treeMap((t: ag.Tensor) => ag.zerosLike(t), sftParams.image) };
    expect(await visualReliance(model, blind, pairRows.slice(0, 6))).toBe(0);
  });
});

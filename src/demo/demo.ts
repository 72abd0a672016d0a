/**
 * The demo (`anchorgrad demo`, what `npm start` runs): does DPO let the
 * chosen likelihood collapse on a vision-language task, and does ACPO stop
 * it? On the synthetic shapes data:
 *
 *   1. generate the data (PNG + InternVL's JSONL formats);
 *   2. create a tiny random InternVL and fine-tune it (SFT) until it grounds
 *      its answers in the image: first on "What colors are in the image?"
 *      alone, at a higher learning rate (an alignment stage: colour presence
 *      is the visual skill a model this small picks up first; trained from
 *      scratch on the whole mixture it stays blind for hundreds of steps),
 *      then on all captions, colour and POPE-style yes/no questions;
 *   3. from that checkpoint, train DPO and ACPO on the same preference pairs
 *      with the same seed, learning rate and steps (the SFT model is the
 *      reference; the vision tower is frozen, as in InternVL's MPO recipe);
 *   4. evaluate all three: POPE per split, visual reliance, and the final
 *      rewards and log-probs over every pair;
 *   5. write summary.json, SVG plots and report.html.
 */
import { currentBackend } from "../backends/registry.js";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { COLOURS_QUESTION, generateShapes, POPE_SPLITS, type PopeSplit } from "../data/shapes.js";
import { readMpoMeta } from "../data/mpo.js";
import { readPope, type PopeRow } from "../data/pope.js";
import { createModel, save } from "../models/internvl/checkpoint.js";
import type { InternVLParams } from "../models/internvl/params.js";
import * as objectives from "../objectives/index.js";
import type { Objective } from "../objectives/types.js";
import { adamw } from "../optim/adamw.js";
import { freeze } from "../optim/paths.js";
import { warmupCosine } from "../optim/schedule.js";
import { writeReport } from "../report/report.js";
import { summaryTable, type DemoSummary, type ModelEval, type ObjectiveSummary } from "../report/summary.js";
import { AnchorError } from "../tensor/errors.js";
import { treeLeaves } from "../tensor/pytree.js";
import type { Example } from "../train/examples.js";
import { encodeRows } from "../train/examples.js";
import { evaluatePope, visualReliance } from "../train/eval.js";
import { PixelCache } from "../train/images.js";
import { internvlModel } from "../train/internvl.js";
import { train, type TrainResult } from "../train/loop.js";
import type { MetricRow } from "../train/metrics.js";
import type { VisionLanguageModel } from "../train/model.js";
import { referenceLogps } from "../train/reference.js";
import { scoreAll } from "../train/scoring.js";

export interface DemoOptions {
  out: string;
  seed: number;
  /** Steps and peak learning rate of the colour-only alignment stage before the full SFT. */
  alignSteps: number;
  alignLr: number;
  sftSteps: number;
  sftBatchSize: number;
  sftLr: number;
  preferenceSteps: number;
  /** Pairs per step (2× as many sequences). */
  batchSize: number;
  lr: number;
  beta: number;
  /** ACPO's δ. */
  delta: number;
  images: { sft: number; pairs: number; eval: number };
  /** The backend the run computes on (the current one) and its adapter; recorded in summary.json's settings and the report. */
  backend?: { name: string; adapter?: string };
  progress: boolean;
  log: (line: string) => void;
}

export const DEMO_DEFAULTS: Omit<DemoOptions, "log" | "progress"> = {
  out: "runs/demo",
  seed: 0,
  alignSteps: 100,
  alignLr: 3e-3,
  sftSteps: 1200,
  sftBatchSize: 16,
  sftLr: 1e-3,
  preferenceSteps: 40,
  batchSize: 8,
  lr: 5e-4,
  beta: 0.1,
  delta: 0.01,
  images: { sft: 256, pairs: 160, eval: 96 },
};

/**
 * How the demo ends when SIGINT or SIGTERM stops one of its training runs:
 * that run saved a checkpoint, and the stages before it their outputs; the
 * demo goes no further, and the process ends with the status ag.train set
 * for the signal (130 or 143), not as a failure.
 */
export interface DemoInterrupted {
  interrupted: true;
  /** The run that was stopped: align, sft, dpo or acpo. */
  stage: string;
  step: number;
  checkpoint: string | null;
}

function stopped(o: DemoOptions, stage: string, run: TrainResult<unknown>): DemoInterrupted {
  o.log(
    `demo: ${run.signal ?? "a stop"} during ${stage} at step ${run.step}: checkpoint ${run.checkpoint ?? "(none: no step had finished)"}; the later stages did not run`,
  );
  return { interrupted: true, stage, step: run.step, checkpoint: run.checkpoint };
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function evaluate<P>(
  model: VisionLanguageModel<P>,
  params: P,
  pope: Record<PopeSplit, PopeRow[]>,
  pairs: Parameters<typeof visualReliance>[2],
): Promise<ModelEval> {
  return { pope: await evaluatePope(model, params, pope), visualReliance: await visualReliance(model, params, pairs) };
}

/** Rewards and log-probs over every pair with the final parameters (not one batch). */
async function finalMetrics<P>(
  model: VisionLanguageModel<P>,
  params: P,
  examples: readonly Example[],
  ref: { chosen: number[]; rejected: number[] },
  beta: number,
  batchSize: number,
): Promise<Record<string, number>> {
  const cache = new PixelCache(model);
  try {
    const seqs = (w: "chosen" | "rejected") => examples.map((e) => ({ prompt: e.prompt, completion: e[w]!, images: e.row.images }));
    const c = await scoreAll(model, params, seqs("chosen"), cache, batchSize);
    const r = await scoreAll(model, params, seqs("rejected"), cache, batchSize);
    const rc = c.map((v, i) => beta * (v - ref.chosen[i]!)),
      rr = r.map((v, i) => beta * (v - ref.rejected[i]!));
    return {
      "rewards/chosen": mean(rc),
      "rewards/rejected": mean(rr),
      "rewards/margins": mean(rc.map((v, i) => v - rr[i]!)),
      "rewards/accuracies": mean(rc.map((v, i) => (v > rr[i]! ? 1 : 0))),
      "logps/chosen": mean(c),
      "logps/rejected": mean(r),
    };
  } finally {
    await cache.clear();
  }
}

export async function runDemo(o: DemoOptions): Promise<DemoSummary | DemoInterrupted> {
  const t0 = Date.now();
  const secondsSince = (t: number) => (Date.now() - t) / 1000;
  const dataDir = join(o.out, "data");

  o.log(`[1/5] generating the shapes data set in ${dataDir}`);
  const manifest = await generateShapes({
    out: dataDir,
    seed: o.seed,
    sftImages: o.images.sft,
    pairImages: o.images.pairs,
    evalImages: o.images.eval,
    imageSize: 56,
  });
  const created = await createModel(join(o.out, "model-init"), { preset: "tiny", layout: "original", seed: o.seed });
  const missing = manifest.words.filter((w) => created.tokenizer!.tokenToId(w) === undefined);
  if (missing.length) throw new AnchorError(`demo: the tiny tokenizer lacks the data's words ${missing.join(", ")}`);
  if (created.config.vision.imageSize !== manifest.imageSize)
    throw new AnchorError(
      `demo: the tiny preset's tiles are ${created.config.vision.imageSize}px, the data's images ${manifest.imageSize}px`,
    );
  const model = internvlModel(created, { system: "", blankImage: join(dataDir, manifest.blankImage) });
  const sftRows = readMpoMeta(join(dataDir, manifest.sftMeta), { kind: "sft" }).rows;
  const pairRows = readMpoMeta(join(dataDir, manifest.pairsMeta)).rows;
  const pope = Object.fromEntries(POPE_SPLITS.map((s) => [s, readPope(join(dataDir, manifest.pope[s]))])) as Record<PopeSplit, PopeRow[]>;

  const nParams = treeLeaves(created.params)
    .reduce((n, t) => n + t.size, 0)
    .toLocaleString("en");
  const alignRows = sftRows.filter((r) => r.question === COLOURS_QUESTION);
  o.log(
    `[2/5] SFT of a tiny InternVL (${nParams} parameters): ${o.alignSteps} steps on the ${alignRows.length} colour questions (lr ${o.alignLr}), then ${o.sftSteps} steps on all ${sftRows.length} examples (lr ${o.sftLr}), batches of ${o.sftBatchSize}`,
  );
  let t = Date.now();
  const sftStage = (name: string, params: InternVLParams, rows: typeof sftRows, steps: number, lr: number) =>
    train({
      model,
      params,
      objective: objectives.sft(),
      data: rows,
      reference: null,
      optimizer: adamw({ lr: warmupCosine({ peak: lr, warmupSteps: Math.ceil(0.05 * steps), totalSteps: steps }), weightDecay: 0 }),
      steps,
      batchSize: o.sftBatchSize,
      seed: o.seed,
      out: join(o.out, name),
      progress: o.progress && `${name.padEnd(5)}`,
    });
  const alignRun = await sftStage("align", created.params, alignRows, o.alignSteps, o.alignLr);
  if (alignRun.interrupted) return stopped(o, "align", alignRun);
  const sftRun = await sftStage("sft", alignRun.params as InternVLParams, sftRows, o.sftSteps, o.sftLr);
  if (sftRun.interrupted) return stopped(o, "sft", sftRun);
  const sftParams = sftRun.params as InternVLParams;
  await save(join(o.out, "sft", "model"), created.config, sftParams, { tokenizerFrom: join(o.out, "model-init") });
  const sftSeconds = secondsSince(t);
  const sftEval = await evaluate(model, sftParams, pope, pairRows);
  o.log(
    `      SFT: loss ${sftRun.history.at(-1)!.loss!.toFixed(3)}, POPE adversarial F1 ${sftEval.pope.adversarial!.f1.toFixed(3)}, visual reliance ${sftEval.visualReliance.toFixed(2)} nats (${sftSeconds.toFixed(0)} s)`,
  );

  const cache = new PixelCache(model);
  const examples = await encodeRows(model, pairRows, cache);
  const refFile = join(o.out, "reference_logps.json");
  const ref = await referenceLogps(model, sftParams, examples, cache, 2 * o.batchSize, refFile);
  await cache.clear();

  const runs: [string, Objective, Record<string, unknown>][] = [
    ["dpo", objectives.dpo({ beta: o.beta }), { beta: o.beta }],
    ["acpo", objectives.acpo({ beta: o.beta, delta: o.delta }), { beta: o.beta, delta: o.delta }],
  ];
  const results: Record<string, ObjectiveSummary> = {};
  const histories: Record<string, MetricRow[]> = {};
  for (const [i, [name, objective, options]] of runs.entries()) {
    o.log(
      `[${3 + i}/5] ${name.toUpperCase()} from the SFT checkpoint on ${pairRows.length} pairs: ${o.preferenceSteps} steps of ${o.batchSize} pairs, lr ${o.lr}, β ${o.beta}`,
    );
    t = Date.now();
    const run = await train({
      model,
      params: sftParams,
      reference: sftParams,
      objective,
      data: pairRows,
      optimizer: adamw({
        lr: warmupCosine({ peak: o.lr, warmupSteps: Math.ceil(0.1 * o.preferenceSteps), totalSteps: o.preferenceSteps }),
        weightDecay: 0,
        mask: freeze("vision"),
      }),
      steps: o.preferenceSteps,
      batchSize: o.batchSize,
      seed: o.seed,
      out: join(o.out, name),
      referenceCache: refFile,
      progress: o.progress && `${name.padEnd(4)}`,
    });
    if (run.interrupted) return stopped(o, name, run);
    histories[name] = run.history;
    const final = await finalMetrics(model, run.params, examples, ref, o.beta, 2 * o.batchSize);
    results[name] = { final, ...(await evaluate(model, run.params, pope, pairRows)), options, seconds: secondsSince(t) };
    for (const leaf of treeLeaves(run.params)) if (!treeLeaves(sftParams).includes(leaf)) leaf.dispose();
  }

  const summary: DemoSummary = {
    objectives: results,
    sft: { final: { loss: sftRun.history.at(-1)!.loss!, alignLoss: alignRun.history.at(-1)!.loss! }, ...sftEval, seconds: sftSeconds },
    reference: { "logps/chosen": mean(ref.chosen), "logps/rejected": mean(ref.rejected) },
    settings: {
      ...o,
      log: undefined,
      progress: undefined,
      backend: o.backend ?? { name: currentBackend().name },
      model: "tiny InternVL (preset tiny, Qwen2 decoder)",
      pairs: pairRows.length,
      sftExamples: sftRows.length,
      popeQuestions: Object.fromEntries(POPE_SPLITS.map((s) => [s, pope[s].length])),
    },
    seconds: 0,
  };
  summary.seconds = secondsSince(t0);
  await writeFile(join(o.out, "summary.json"), JSON.stringify(summary, null, 2));
  o.log(`[5/5] writing the report`);
  const dpo = results.dpo!.final,
    acpo = results.acpo!.final;
  const report = await writeReport(o.out, {
    title: "anchorgrad demo: DPO vs ACPO on synthetic shapes",
    summary,
    histories,
    sftHistory: [...alignRun.history, ...sftRun.history.map((r) => ({ ...r, step: r.step! + o.alignSteps }))],
    splits: POPE_SPLITS,
    notes: [
      `A tiny InternVL was fine-tuned (${o.alignSteps} steps on which colours are present, then ${o.sftSteps} on all ${sftRows.length} captions, colour questions and POPE-style yes/no questions) on images of coloured shapes, then trained from that checkpoint with DPO and with ACPO on ${pairRows.length} preference pairs whose rejected answers are language-prior hallucinations (the most frequent colour, "Yes" about an absent object, "No" about a present one) sharing all but one to three tokens with the chosen ones. POPE is scored on ${POPE_SPLITS.map((s) => pope[s].length).join("/")} questions about ${o.images.eval} held-out images. Same seed, data order, learning rate (${o.lr}), β (${o.beta}) and ${o.preferenceSteps} steps for both.`,
      `Final rewards over all pairs: DPO chosen ${dpo["rewards/chosen"]!.toFixed(3)}, rejected ${dpo["rewards/rejected"]!.toFixed(3)}; ACPO chosen ${acpo["rewards/chosen"]!.toFixed(3)}, rejected ${acpo["rewards/rejected"]!.toFixed(3)}. A negative chosen reward means the policy made the preferred answer less likely than the reference did (likelihood displacement).`,
      `Visual reliance (mean log p(chosen | image) − log p(chosen | blank image)): SFT ${sftEval.visualReliance.toFixed(2)}, DPO ${results.dpo!.visualReliance.toFixed(2)}, ACPO ${results.acpo!.visualReliance.toFixed(2)} nats. Total time ${summary.seconds.toFixed(0)} s.`,
    ],
  });
  o.log("");
  o.log(summaryTable(summary, POPE_SPLITS));
  o.log("");
  o.log(`report: ${report}`);
  return summary;
}

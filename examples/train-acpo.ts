/**
 * Train a vision-language model with ACPO from a script.
 *
 *   npx tsx examples/train-acpo.ts [out-dir] [steps]
 *
 * Swap in your own data (any MPO meta JSON or .jsonl) and your own model
 * (ag.models.internvl.load("path/to/InternVL3-1B")) in the two marked lines.
 */
import * as ag from "anchorgrad";

const out = process.argv[2] ?? "runs/example-acpo";
const steps = Number(process.argv[3] ?? 20);

// data: synthetic shapes pairs in InternVL's MPO format (or: ag.data.readMpoMeta("my/meta.json").rows)
const shapes = await ag.data.generateShapes({ out: `${out}/data`, seed: 0, sftImages: 4, pairImages: 32, evalImages: 4, imageSize: 56 });
const pairs = ag.data.readMpoMeta(`${out}/data/${shapes.pairsMeta}`).rows;

// model: a fresh tiny InternVL (or: await ag.models.internvl.load("path/to/checkpoint"))
const model = await ag.models.internvl.createModel(`${out}/model`, { preset: "tiny", layout: "original", seed: 0 });

const run = await ag.train({
  model: ag.training.internvlModel(model),
  params: model.params,
  objective: ag.objectives.acpo({ beta: 0.1, delta: 0.01 }),
  data: pairs,
  optimizer: ag.optim.adamw({
    lr: ag.optim.warmupCosine({ peak: 5e-4, warmupSteps: 2, totalSteps: steps }),
    mask: ag.optim.freeze("vision"),
  }),
  steps,
  batchSize: 4,
  out: `${out}/run`,
});

const last = run.history.at(-1)!;
console.log(
  `step ${last.step}: loss ${last.loss!.toFixed(4)}, margins ${last["rewards/margins"]!.toFixed(4)}, alpha ${last["acpo/alpha"]!.toFixed(3)}`,
);
console.log(`metrics: ${out}/run/metrics.jsonl, checkpoint: ${run.checkpoint}`);

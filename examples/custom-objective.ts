/**
 * Define a new preference objective, check its gradients, and train with it.
 *
 *   npx tsx examples/custom-objective.ts [out-dir] [steps]
 *
 * The objective here is "anchored DPO": DPO plus a penalty on any fall of the
 * chosen log-ratio below zero, softplus(−r_c / τ)·τ·λ, which keeps the chosen
 * likelihood from being displaced while the margin grows.
 */
import * as ag from "anchorgrad";

const out = process.argv[2] ?? "runs/example-custom";
const steps = Number(process.argv[3] ?? 20);

/** An objective is a pure function of per-sequence log-probs: (batch) => { loss, metrics }. */
function anchoredDpo({ beta = 0.1, lambda = 1, tau = 0.5 } = {}) {
  return function anchoredDpo(batch: ag.objectives.PreferenceBatch) {
    const { chosen, rejected } = ag.objectives.logRatios(batch); // r_c = S_c − Ŝ_c, r_r = S_r − Ŝ_r
    const dpo = ag.softplus(ag.neg(ag.mul(ag.sub(chosen, rejected), beta))); // −log σ(β(r_c − r_r))
    const anchor = ag.mul(ag.softplus(ag.div(ag.neg(chosen), tau)), tau * lambda); // ≈ λ·max(0, −r_c)
    const rc = ag.mul(ag.stopGradient(chosen), beta),
      rr = ag.mul(ag.stopGradient(rejected), beta);
    return {
      loss: ag.mean(ag.add(dpo, anchor)),
      metrics: {
        "rewards/chosen": ag.mean(rc),
        "rewards/rejected": ag.mean(rr),
        "rewards/margins": ag.mean(ag.sub(rc, rr)),
        "anchor/penalty": ag.mean(ag.stopGradient(anchor)),
      },
    };
  };
}

// 1. check its gradients against finite differences (float64), w.r.t. both policy log-prob vectors
const objective = anchoredDpo();
const f64 = (xs: number[]) => ag.tensor(xs, { dtype: "float64" });
const lengths = f64([5, 7, 6]);
const ref = { refChosenLogps: f64([-9, -12, -7]), refRejectedLogps: f64([-10, -11, -8]), chosenLengths: lengths, rejectedLengths: lengths };
ag.checkGrads(
  (c: ag.Tensor, r: ag.Tensor) => objective({ policyChosenLogps: c, policyRejectedLogps: r, ...ref }).loss,
  [f64([-9.5, -11, -7.2]), f64([-10.4, -10.9, -9])],
  { order: 2 },
);
console.log("gradient check passed (first and second order)");

// 2. train a tiny InternVL with it on the shapes pairs
const shapes = await ag.data.generateShapes({ out: `${out}/data`, seed: 1, sftImages: 4, pairImages: 32, evalImages: 4, imageSize: 56 });
const model = await ag.models.internvl.createModel(`${out}/model`, { preset: "tiny", layout: "original", seed: 1 });
const run = await ag.train({
  model: ag.training.internvlModel(model),
  params: model.params,
  objective,
  data: ag.data.readMpoMeta(`${out}/data/${shapes.pairsMeta}`).rows,
  optimizer: ag.optim.adamw({ lr: 5e-4 }),
  steps,
  batchSize: 4,
  out: `${out}/run`,
});
const last = run.history.at(-1)!;
console.log(
  `step ${last.step}: loss ${last.loss!.toFixed(4)}, margins ${last["rewards/margins"]!.toFixed(4)}, anchor penalty ${last["anchor/penalty"]!.toFixed(4)}`,
);

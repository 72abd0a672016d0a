/**
 * DPOTrainer's loss as TRL computes it, at v0.25.1 (`dpo_loss` and
 * `get_batch_loss_metrics`) and on main (`_compute_loss`). The two versions
 * differ in more than names: v0.25 forms the margin as (S_c − S_r) −
 * (Ŝ_c − Ŝ_r), main as r_c − r_r; v0.25 divides every log-prob by its length
 * when "ipo" is among the loss types, main only inside ipo and sigmoid_norm;
 * v0.25 sums each term's weighted per-pair losses before the mean, weights the
 * logged rewards too, and keeps the bco_pair running mean; main's sigmoid
 * ignores label_smoothing. Each form is reproduced because exactness is the
 * point of fromTrl (docs/trl.md).
 */
import { stopGradient } from "../../autograd/transforms.js";
import { add, broadcastTo, concat, div, exp, mean, mul, neg, relu, sigmoid, sub } from "../../ops/index.js";
import type { Tensor } from "../../tensor/tensor.js";
import type { Terms } from "../batch.js";
import { tokenNll } from "../nll.js";
import { sortAscending } from "../sort.js";
import { logpMetrics, ls, rewardMetrics, smoothed, viaFloat32, type TrlState } from "./common.js";
import type { TrlSettings } from "./config.js";

export interface TrlStep {
  loss: Tensor;
  metrics: Record<string, Tensor>;
  state: TrlState;
}

/** What one loss term reads. */
interface Ctx {
  s: TrlSettings;
  /** Policy and reference log-probs (per-token means in v0.25 when "ipo" is in the list). */
  Sc: Tensor;
  Sr: Tensor;
  Rc: Tensor;
  Rr: Tensor;
  t: Terms;
  /** The label smoothing in force (v0.25's exo_pair may have raised it). */
  eps: number;
  nll: Tensor | null;
}

const square = (x: Tensor): Tensor => mul(x, x);
const minusLs = (z: Tensor): Tensor => neg(ls(z));

/**
 * DiscoPOP, (−logσ(z))·(1 − m) + e^(−z)·m with m = σ(z/τ). The second
 * product is evaluated as exp(logσ(z/τ) − z): TRL's e^(−z)·m is inf·0 = NaN
 * once z < −709; this form stays finite there (the documented improvement)
 * and agrees to rounding elsewhere.
 */
function discopop(z: Tensor, tau: number): Tensor {
  const u = div(z, tau);
  return add(mul(minusLs(z), sub(1, sigmoid(u))), exp(sub(ls(u), z)));
}

/** AOT's sorted-difference loss, shared by aot and aot_pair/aot_unpaired. */
const sortedSmoothed = (a: Tensor, b: Tensor, c: Ctx): Tensor => smoothed(mul(sub(sortAscending(a), sortAscending(b)), c.s.beta), c.eps);

// --- v0.25.1 -------------------------------------------------------------------

function term025(type: string, c: Ctx, running: TrlState["running"]): { loss: Tensor; running: TrlState["running"] } {
  const { beta, referenceFree: rf } = c.s;
  const { Sc, Sr, Rc, Rr, eps } = c;
  // `chosen_logps - (not reference_free) * ref_chosen_logps`: the reference drops out when reference_free
  const clr = rf ? Sc : sub(Sc, Rc),
    rlr = rf ? Sr : sub(Sr, Rr);
  const logits = rf ? sub(Sc, Sr) : sub(sub(Sc, Sr), sub(Rc, Rr));
  const z = mul(logits, beta);
  const done = (loss: Tensor) => ({ loss, running });
  switch (type) {
    case "sigmoid":
      return done(smoothed(z, eps));
    case "robust":
      return done(div(add(mul(minusLs(z), 1 - eps), mul(ls(neg(z)), eps)), 1 - 2 * eps));
    case "exo_pair":
      return done(add(mul(sigmoid(z), sub(ls(z), Math.log(1 - eps))), mul(sigmoid(neg(z)), sub(ls(neg(z)), Math.log(eps)))));
    case "hinge":
      return done(relu(sub(1, z)));
    case "ipo":
      return done(square(sub(logits, 1 / (2 * beta))));
    case "bco_pair": {
      // the rewards use the reference even when reference_free, as in TRL
      const cr = mul(sub(Sc, Rc), beta),
        rr = mul(sub(Sr, Rr), beta);
      const next = updateRunning(running, mean(stopGradient(concat([cr, rr], 0))));
      const delta = stopGradient(next.mean);
      return { loss: add(minusLs(sub(cr, delta)), minusLs(neg(sub(rr, delta)))), running: next };
    }
    case "sppo_hard":
      return done(add(square(sub(sub(Sc, Rc), 0.5 / beta)), square(add(sub(Sr, Rr), 0.5 / beta))));
    case "nca_pair":
      return done(nca(mul(sub(Sc, Rc), beta), mul(sub(Sr, Rr), beta)));
    case "aot_pair":
      return done(sortedSmoothed(sub(Sc, Rc), sub(Sr, Rr), c));
    case "aot":
      return done(sortedSmoothed(sub(Sc, Sr), sub(Rc, Rr), c));
    case "apo_zero":
      return done(add(sub(1, sigmoid(mul(clr, beta))), sigmoid(mul(rlr, beta))));
    case "apo_down":
      return done(add(sigmoid(mul(clr, beta)), sub(1, sigmoid(mul(sub(clr, rlr), beta)))));
    case "discopop":
      return done(discopop(mul(sub(sub(Sc, Sr), sub(Rc, Rr)), beta), c.s.discopopTau));
    case "sft":
      return done(broadcastTo(c.nll!, [c.t.size]));
  }
  throw new Error(`unreachable loss type ${type}`);
}

const nca = (cr: Tensor, rr: Tensor): Tensor => sub(sub(minusLs(cr), mul(ls(neg(cr)), 0.5)), mul(ls(neg(rr)), 0.5));

/**
 * One RunningMoments.update with a single value x (the batch's mean reward),
 * as TRL does it: x and the old mean are rounded to float32, their difference
 * and its share 1 / (count + 1) are float32 operations, and the mean itself
 * accumulates in double. Tensor ops throughout, so it runs under a transform.
 */
function updateRunning(running: TrlState["running"], x: Tensor): { mean: Tensor; count: number } {
  const old = running ?? { mean: 0, count: 1e-24 };
  const total = old.count + 1;
  const oldMean32 = typeof old.mean === "number" ? Math.fround(old.mean) : viaFloat32(old.mean);
  // float32 ops on float32 values, done in double and rounded: the same as float32 arithmetic
  const delta = viaFloat32(sub(viaFloat32(x), oldMean32));
  const step = viaFloat32(div(delta, total));
  return { mean: typeof old.mean === "number" ? add(step, old.mean) : add(old.mean, step), count: total };
}

function dpo025(s: TrlSettings, t: Terms, state: TrlState): TrlStep {
  const ref = t.reference!;
  const perToken = s.lossTypes.includes("ipo");
  const norm = (x: Tensor, L: Tensor) => (perToken ? div(x, L) : x);
  const Sc = norm(t.chosenSum, t.chosenLengths),
    Sr = norm(t.rejectedSum, t.rejectedLengths);
  const Rc = norm(ref.chosen, t.chosenLengths),
    Rr = norm(ref.rejected, t.rejectedLengths);
  const wantsNll = s.rpoAlpha !== null || s.lossTypes.includes("sft");
  const nll = wantsNll ? tokenNll("fromTrl", t) : null;
  let eps = state.labelSmoothing,
    running = state.running;
  let losses: Tensor | null = null,
    chosenRewards: Tensor | null = null,
    rejectedRewards: Tensor | null = null;
  const cr = mul(stopGradient(sub(Sc, Rc)), s.beta),
    rr = mul(stopGradient(sub(Sr, Rr)), s.beta);
  s.lossTypes.forEach((type, k) => {
    if (type === "exo_pair" && eps === 0) eps = 1e-3;
    const out = term025(type, { s, Sc, Sr, Rc, Rr, t, eps, nll }, running);
    running = out.running;
    const w = s.lossWeights ? s.lossWeights[k]! : 1;
    const acc = (sum: Tensor | null, x: Tensor) => (sum ? add(sum, mul(x, w)) : mul(x, w));
    losses = acc(losses, out.loss);
    chosenRewards = acc(chosenRewards, cr);
    rejectedRewards = acc(rejectedRewards, rr);
  });
  if (s.rpoAlpha !== null) losses = add(losses!, mul(nll!, s.rpoAlpha));
  const metrics = { ...rewardMetrics(chosenRewards!, rejectedRewards!), ...logpMetrics(Sc, Sr) };
  if (nll) metrics["nll_loss"] = stopGradient(nll);
  return { loss: mean(losses!), metrics, state: { running, labelSmoothing: eps } };
}

// --- main ------------------------------------------------------------------------

function term1(type: string, c: Ctx, clr: Tensor, rlr: Tensor): Tensor {
  const { beta } = c.s;
  const delta = sub(clr, rlr);
  const z = mul(delta, beta);
  const perToken = () => sub(div(clr, c.t.chosenLengths), div(rlr, c.t.rejectedLengths));
  switch (type) {
    case "sigmoid":
      return minusLs(z);
    case "hinge":
      return relu(sub(1, z));
    case "ipo":
      return square(sub(perToken(), 1 / (2 * beta)));
    case "sigmoid_norm":
      return minusLs(mul(perToken(), beta));
    case "exo_pair": {
      // TRL builds ε with torch.tensor(label_smoothing): float32, so log1p(−ε) and log ε are float32 values
      const e32 = Math.fround(c.eps);
      const logPw = Math.fround(Math.log1p(-e32)),
        logPl = Math.fround(Math.log(e32));
      return add(mul(sigmoid(z), sub(ls(z), logPw)), mul(sigmoid(neg(z)), sub(ls(neg(z)), logPl)));
    }
    case "nca_pair":
      return nca(mul(clr, beta), mul(rlr, beta));
    case "robust":
      return div(sub(mul(ls(z), -(1 - c.eps)), mul(ls(neg(z)), -c.eps)), 1 - 2 * c.eps);
    case "bco_pair":
      return sub(minusLs(mul(clr, beta)), ls(neg(mul(rlr, beta))));
    case "sppo_hard":
      return add(square(sub(clr, 0.5 / beta)), square(add(rlr, 0.5 / beta)));
    case "aot":
      return sortedSmoothed(sub(c.Sc, c.Sr), sub(c.Rc, c.Rr), c);
    case "aot_unpaired":
      return sortedSmoothed(clr, rlr, c);
    case "apo_zero":
      return add(sub(1, sigmoid(mul(clr, beta))), sigmoid(mul(rlr, beta)));
    case "apo_down":
      return add(sigmoid(mul(clr, beta)), sub(1, sigmoid(z)));
    case "discopop":
      return discopop(z, c.s.discopopTau);
    case "sft":
      return broadcastTo(tokenNll("fromTrl", c.t), [c.t.size]);
  }
  throw new Error(`unreachable loss type ${type}`);
}

function dpo1(s: TrlSettings, t: Terms, state: TrlState): TrlStep {
  const ref = t.reference!;
  const c: Ctx = { s, Sc: t.chosenSum, Sr: t.rejectedSum, Rc: ref.chosen, Rr: ref.rejected, t, eps: s.labelSmoothing, nll: null };
  const clr = sub(c.Sc, c.Rc),
    rlr = sub(c.Sr, c.Rr);
  let loss: Tensor | null = null;
  s.lossTypes.forEach((type, k) => {
    const part = mul(mean(term1(type, c, clr, rlr)), s.lossWeights ? s.lossWeights[k]! : 1);
    loss = loss ? add(loss, part) : part;
  });
  const metrics = {
    ...rewardMetrics(mul(stopGradient(clr), s.beta), mul(stopGradient(rlr), s.beta)),
    ...logpMetrics(c.Sc, c.Sr),
  };
  return { loss: loss!, metrics, state };
}

/** DPOTrainer's loss and metrics for the version in `s`. */
export const dpoStep = (s: TrlSettings, t: Terms, state: TrlState): TrlStep =>
  s.version === "0.25" ? dpo025(s, t, state) : dpo1(s, t, state);

/**
 * AdamW (Loshchilov & Hutter) with decoupled weight decay, step for step as
 * torch.optim.AdamW: p ← p·(1 − lr·wd), then
 * p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε).
 */
import { AnchorError } from "../tensor/errors.js";
import { add, div, mul, sqrt, sub } from "../ops/elementwise.js";
import { makeOptimizer, type CommonOptions, type Optimizer } from "./optimizer.js";

export interface AdamWOptions extends CommonOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay (torch's default 0.01). */
  weightDecay?: number;
}

export function adamw(opts: AdamWOptions): Optimizer {
  const b1 = opts.beta1 ?? 0.9,
    b2 = opts.beta2 ?? 0.999,
    eps = opts.eps ?? 1e-8,
    wd = opts.weightDecay ?? 0.01;
  for (const [k, v] of [
    ["beta1", b1],
    ["beta2", b2],
  ] as const) {
    if (!(v >= 0 && v < 1)) throw new AnchorError(`adamw: ${k} must be in [0, 1), got ${v}`);
  }
  if (!(eps > 0)) throw new AnchorError(`adamw: eps must be > 0, got ${eps}`);
  if (!(wd >= 0)) throw new AnchorError(`adamw: weightDecay must be >= 0, got ${wd}`);
  return makeOptimizer(
    "adamw",
    opts,
    { beta1: b1, beta2: b2, eps, weightDecay: wd },
    {
      slotNames: ["m", "v"],
      scalars: (lr, t) => ({ decay: 1 - lr * wd, biasV: Math.sqrt(1 - b2 ** t), stepSize: lr / (1 - b1 ** t) }),
      apply(p, g, [m0, v0], s) {
        const m = add(mul(m0!, b1), mul(g, 1 - b1));
        const v = add(mul(v0!, b2), mul(mul(g, g), 1 - b2));
        const denom = add(div(sqrt(v), s.biasV!), eps);
        const decayed = wd !== 0 ? mul(p, s.decay!) : p;
        return { p: sub(decayed, mul(div(m, denom), s.stepSize!)), slots: [m, v] };
      },
    },
  );
}

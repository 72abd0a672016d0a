/**
 * SGD with momentum, matching torch.optim.SGD: weight decay is coupled (added
 * to the gradient), the momentum buffer starts as the first gradient, and
 * `nesterov` uses g + momentum·buf.
 */
import { AnchorError } from "../tensor/errors.js";
import { add, mul, sub } from "../ops/elementwise.js";
import { makeOptimizer, type CommonOptions, type Optimizer } from "./optimizer.js";

export interface SgdOptions extends CommonOptions {
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

export function sgd(opts: SgdOptions): Optimizer {
  const momentum = opts.momentum ?? 0,
    dampening = opts.dampening ?? 0,
    wd = opts.weightDecay ?? 0,
    nesterov = opts.nesterov ?? false;
  if (!(momentum >= 0)) throw new AnchorError(`sgd: momentum must be >= 0, got ${momentum}`);
  if (!(dampening >= 0 && dampening <= 1)) throw new AnchorError(`sgd: dampening must be in [0, 1], got ${dampening}`);
  if (!(wd >= 0)) throw new AnchorError(`sgd: weightDecay must be >= 0, got ${wd}`);
  if (nesterov && (momentum <= 0 || dampening !== 0)) throw new AnchorError("sgd: nesterov needs momentum > 0 and dampening 0");
  return makeOptimizer(
    "sgd",
    opts,
    { momentum, dampening, weightDecay: wd, nesterov },
    {
      slotNames: momentum > 0 ? ["momentum"] : [],
      scalars: (lr) => ({ lr }),
      apply(p, g, slots, s, first) {
        const d = wd !== 0 ? add(g, mul(p, wd)) : g;
        if (momentum === 0) return { p: sub(p, mul(d, s.lr!)), slots: [] };
        const buf = first ? d : add(mul(slots[0]!, momentum), mul(d, 1 - dampening));
        const step = nesterov ? add(d, mul(buf, momentum)) : buf;
        return { p: sub(p, mul(step, s.lr!)), slots: [buf] };
      },
    },
  );
}

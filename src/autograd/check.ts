/**
 * checkGrads: compare autodiff with central finite differences in float64
 * along seeded random directions (in the spirit of jax.test_util.check_grads).
 * Order 2 checks the gradient of a random projection of the gradient, i.e.
 * Hessian-vector products. A failure throws a report naming the argument,
 * its worst element and both values.
 */
import { isFloat } from "../tensor/dtype.js";
import { AnchorError } from "../tensor/errors.js";
import { fmt, stridesOf } from "../tensor/shape.js";
import { fromStorage, randomNormal } from "../ops/create.js";
import { scope } from "../tensor/scope.js";
import { Tensor } from "../tensor/tensor.js";
import { treeFlatten, treeUnflatten } from "../tensor/pytree.js";
import { add, mul } from "../ops/elementwise.js";
import { cast } from "../ops/cast.js";
import { sum } from "../ops/reduce.js";
import { grad } from "./transforms.js";

export interface CheckGradsOptions {
  /** 1: gradients; 2: also Hessian-vector products. Default 1. */
  order?: 1 | 2;
  /** Finite-difference step. Default 1e-5. */
  eps?: number;
  atol?: number;
  rtol?: number;
  /** Random directions per argument. Default 2. */
  directions?: number;
  seed?: number;
}

export class GradCheckError extends AnchorError {
  override name = "GradCheckError";
}

type Scalar = (x: Tensor) => Tensor;

/**
 * Check ∂f/∂(every float tensor in args) — top-level tensors and the leaves
 * of pytree arguments alike (f returns a scalar). Float inputs are promoted
 * to float64 first.
 */
export function checkGrads(f: (...args: any[]) => Tensor, args: readonly unknown[], opts: CheckGradsOptions = {}): void {
  const o = {
    order: opts.order ?? 1,
    eps: opts.eps ?? 1e-5,
    atol: opts.atol ?? 1e-5,
    rtol: opts.rtol ?? 1e-5,
    directions: opts.directions ?? 2,
    seed: opts.seed ?? 0,
  };
  scope(() => {
    const trees = args.map((a) => {
      const { leaves, def } = treeFlatten(a);
      return { def, leaves: leaves.map((l) => (isFloat(l.dtype) ? cast(l, "float64") : l)), isTensor: a instanceof Tensor };
    });
    const rebuild = (i: number, j: number, x: Tensor) =>
      trees.map((t, k) => treeUnflatten(t.def, k === i ? t.leaves.map((l, m) => (m === j ? x : l)) : t.leaves));
    trees.forEach((t, i) =>
      t.leaves.forEach((leaf, j) => {
        if (!isFloat(leaf.dtype)) return;
        const label = t.isTensor ? `argument ${i}` : `argument ${i}, leaf ${j}`;
        const fij: Scalar = (x) => f(...rebuild(i, j, x));
        checkOne(fij, leaf, label, 1, o);
        if (o.order === 2) {
          const w = randomNormal(leaf.shape, { seed: o.seed + 7919 * (i + 1) + 104729 * j, dtype: "float64" });
          const hvp: Scalar = (x) => sum(mul(grad(fij)(x), w));
          checkOne(hvp, leaf, label, 2, o);
        }
      }),
    );
  });
}

function value(fn: Scalar, x: Tensor): number {
  const out = fn(x);
  if (out.size !== 1) throw new GradCheckError(`checkGrads: the function must return a scalar, got shape ${fmt(out.shape)}`);
  return out.item();
}

function checkOne(fn: Scalar, x: Tensor, label: string, order: number, o: Required<CheckGradsOptions>): void {
  const g = grad(fn)(x);
  const close = (a: number, b: number) => Math.abs(a - b) <= o.atol + o.rtol * Math.max(Math.abs(a), Math.abs(b));
  for (let d = 0; d < o.directions; d++) {
    const v = randomNormal(x.shape, { seed: o.seed * 1000 + d + 31 * order, dtype: "float64" });
    const fd = (value(fn, add(x, mul(v, o.eps))) - value(fn, add(x, mul(v, -o.eps)))) / (2 * o.eps);
    const ad = sum(mul(g, v)).item();
    if (!Number.isFinite(ad) || !close(ad, fd)) {
      throw new GradCheckError(
        `checkGrads: order-${order} derivative of ${label} (shape ${fmt(x.shape)}) disagrees with central differences ` +
          `along random direction ${d}: autodiff ${ad}, finite difference ${fd} (|diff| ${Math.abs(ad - fd).toExponential(2)}).` +
          worstElement(fn, x, g, o),
      );
    }
  }
}

/** Per-element finite differences (first 256 elements) to name the worst input. */
function worstElement(fn: Scalar, x: Tensor, g: Tensor, o: Required<CheckGradsOptions>): string {
  const xs = x.dataSync() as Float64Array,
    gs = g.dataSync();
  let worst = -1,
    worstErr = -1,
    worstFd = 0;
  for (let i = 0; i < Math.min(xs.length, 256); i++) {
    const probe = (h: number) => {
      const y = Float64Array.from(xs);
      y[i] = y[i]! + h;
      return value(fn, fromStorage(y, x.shape, "float64", x.device));
    };
    const fd = (probe(o.eps) - probe(-o.eps)) / (2 * o.eps);
    const err = Math.abs(fd - gs[i]!);
    if (!(err <= worstErr)) {
      worst = i;
      worstErr = err;
      worstFd = fd;
    }
  }
  if (worst < 0) return "";
  const st = stridesOf(x.shape);
  const index = st.map((s, k) => Math.floor(worst / s) % x.shape[k]!);
  return ` Worst element ${fmt(index)}: autodiff ${gs[worst]}, finite difference ${worstFd}.`;
}

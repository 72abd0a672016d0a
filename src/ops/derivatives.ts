/**
 * The derivative table: one VJP rule per differentiable kernel primitive,
 * written with the public ops so that the backward pass is itself traced
 * (grad(grad(f)) works). The reverse sweep (src/autograd/) looks rules up
 * here with vjpRule; customVjp adds the rules of the primitives it makes.
 * Primitives marked `flat` in src/prims (comparisons, argmax, sign, floor)
 * have no rule: tapes never record them.
 */
import { bind } from "../ir/trace.js";
import {
  binaryPrims,
  broadcastToPrim,
  castPrim,
  concatPrim,
  gatherPrim,
  layerNormPrim,
  logSoftmaxPrim,
  logsumexpPrim,
  matmulPrim,
  maxPrim,
  normGradPrim,
  padPrim,
  reducedShape,
  reshapePrim,
  rmsNormPrim,
  scatterAddPrim,
  slicePrim,
  softmaxGradPrim,
  softmaxPrim,
  sumPrim,
  transposePrim,
  unaryPrims,
  wherePrim,
  type Abstract,
  type BinaryName,
  type NormParams,
  type Primitive,
  type ReduceParams,
  type UnaryName,
} from "../prims/index.js";
import { isFloat } from "../tensor/dtype.js";
import { AnchorError } from "../tensor/errors.js";
import { broadcastedAxes, sameShape } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import { cast } from "./cast.js";
import { add, cos, div, equal, exp, greater, less, log, mul, neg, pow, rsqrt, scalarLike, sign, sin, sub, where } from "./elementwise.js";
import { gather, scatterAdd } from "./indexing.js";
import { mean, sum } from "./reduce.js";
import { normGrad, softmaxGrad } from "./rows.js";
import { broadcastTo, pad, reshape, slice, transpose } from "./shape.js";

/**
 * Cotangent of each input given the output cotangent `g` (null: no gradient
 * flows to that input). `wanted[i]` is false for inputs that are constants of
 * the traced function; rules may skip those (return null).
 */
export type VjpRule<P> = (g: Tensor, inputs: readonly Tensor[], out: Tensor, params: P, wanted: readonly boolean[]) => (Tensor | null)[];

const rules = new Map<Primitive, VjpRule<any>>();

function rule<P>(prim: Primitive<P>, vjp: VjpRule<P>): void {
  if (rules.has(prim)) throw new Error(`the VJP of ${prim.name} is defined twice`);
  rules.set(prim, vjp);
}

export function vjpRule(prim: Primitive): VjpRule<unknown> {
  const r = rules.get(prim);
  if (!r) throw new AnchorError(`${prim.name} has no VJP rule, so it cannot be differentiated`);
  return r;
}

/** The rule of a primitive made at run time by customVjp. */
export const defineCustomVjp: <P>(prim: Primitive<P>, vjp: VjpRule<P>) => void = rule;

/**
 * Replace a primitive's VJP rule until the returned function is called: for
 * experiments with a hand-written derivative, and for tests that show the
 * gradient checks catch a wrong rule.
 */
export function overrideVjp<P>(prim: Primitive<P>, vjp: VjpRule<P>): () => void {
  const saved = vjpRule(prim);
  rules.set(prim, vjp);
  return () => rules.set(prim, saved);
}

// --- helpers --------------------------------------------------------------

/** Sum a cotangent over the axes along which `like` was broadcast. */
function unbroadcast(g: Tensor, like: Abstract): Tensor {
  if (sameShape(g.shape, like.shape)) return g;
  const axes = broadcastedAxes(like.shape, g.shape);
  return reshape(sum(g, axes, true), like.shape);
}

/** Expand a reduced cotangent back over the reduced axes. */
function expandBack(g: Tensor, x: Abstract, p: ReduceParams): Tensor {
  return broadcastTo(reshape(g, reducedShape(x.shape, p.axes, true)), x.shape);
}

/** The leading axes of x (all but the last): weight and bias gradients sum over them. */
const leadingAxes = (x: Abstract): number[] => [...Array(x.shape.length - 1).keys()];

/** A per-row statistic [..., 1] that broadcasts against the rows. */
const perRow = (t: Tensor): Tensor => reshape(t, [...t.shape, 1]);

// --- elementwise ------------------------------------------------------------

const SQRT_PI = Math.sqrt(Math.PI);

/** Cotangent of x from g, x and the output y, per differentiable unary primitive. */
const UNARY_VJP: Partial<Record<UnaryName, (g: Tensor, x: Tensor, y: Tensor) => Tensor>> = {
  neg: (g) => neg(g),
  exp: (g, _x, y) => mul(g, y),
  log: (g, x) => div(g, x),
  log1p: (g, x) => div(g, add(x, 1)),
  sqrt: (g, _x, y) => div(g, mul(y, 2)),
  rsqrt: (g, x, y) => mul(g, mul(div(y, x), -0.5)),
  abs: (g, x) => mul(g, sign(x)),
  tanh: (g, _x, y) => mul(g, sub(1, mul(y, y))),
  sigmoid: (g, _x, y) => mul(g, mul(y, sub(1, y))),
  erf: (g, x) => mul(g, mul(exp(neg(mul(x, x))), 2 / SQRT_PI)),
  sin: (g, x) => mul(g, cos(x)),
  cos: (g, x) => neg(mul(g, sin(x))),
};
for (const [name, vjp] of Object.entries(UNARY_VJP)) {
  rule(unaryPrims[name as UnaryName], (g, [x], y) => [vjp(g, x!, y)]);
}

type BinaryRule = (g: Tensor, a: Tensor, b: Tensor, out: Tensor) => Tensor;

const half = (g: Tensor, a: Tensor, b: Tensor, pick: (a: Tensor, b: Tensor) => Tensor): Tensor =>
  // ties split the gradient equally, as PyTorch does
  mul(g, add(cast(pick(a, b), g.dtype), mul(cast(equal(a, b), g.dtype), 0.5)));

/** Cotangent rules for a and b at the broadcast output shape; each runs only when its input needs one. */
const BINARY_VJP: Partial<Record<BinaryName, readonly [BinaryRule, BinaryRule]>> = {
  add: [(g) => g, (g) => g],
  sub: [(g) => g, (g) => neg(g)],
  mul: [(g, _a, b) => mul(g, b), (g, a) => mul(g, a)],
  div: [(g, _a, b) => div(g, b), (g, a, b) => neg(div(mul(g, a), mul(b, b)))],
  pow: [
    (g, a, b) => mul(g, mul(b, pow(a, sub(b, 1)))),
    // d/db a^b = a^b log a, taken as 0 where a <= 0 (as PyTorch does at a = 0)
    (g, a, _b, out) => mul(g, where(greater(a, 0), mul(out, log(where(greater(a, 0), a, 1))), 0)),
  ],
  maximum: [(g, a, b) => half(g, a, b, greater), (g, a, b) => half(g, b, a, greater)],
  minimum: [(g, a, b) => half(g, a, b, less), (g, a, b) => half(g, b, a, less)],
};
for (const [name, [da, db]] of Object.entries(BINARY_VJP)) {
  rule(binaryPrims[name as BinaryName], (g, [a, b], out, _p, wanted) => [
    wanted[0] ? unbroadcast(da(g, a!, b!, out), a!) : null,
    wanted[1] ? unbroadcast(db(g, a!, b!, out), b!) : null,
  ]);
}

rule(wherePrim, (g, [c, a, b], _out, _p, wanted) => {
  const zero = scalarLike(0, g);
  return [null, wanted[1] ? unbroadcast(where(c!, g, zero), a!) : null, wanted[2] ? unbroadcast(where(c!, zero, g), b!) : null];
});

// --- the other families -------------------------------------------------------

rule(castPrim, (g, [x]) => [isFloat(x!.dtype) ? cast(g, x!.dtype) : null]);

rule(sumPrim, (g, [x], _out, p) => [expandBack(g, x!, p)]);

rule(maxPrim, (g, [x], out, p) => {
  // the gradient is shared equally among tied maxima
  const mask = cast(equal(x!, expandBack(out, x!, p)), g.dtype);
  const count = sum(mask, p.axes, true);
  return [div(mul(mask, expandBack(g, x!, p)), count)];
});

rule(reshapePrim, (g, [x]) => [reshape(g, x!.shape)]);

rule(transposePrim, (g, _x, _o, { perm }) => {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return [transpose(g, inv)];
});

rule(broadcastToPrim, (g, [x]) => [reshape(sum(g, broadcastedAxes(x!.shape, g.shape), true), x!.shape)]);

rule(slicePrim, (g, [x], _o, { starts, ends }) => [
  pad(
    g,
    x!.shape.map((d, i) => [starts[i]!, d - ends[i]!] as [number, number]),
  ),
]);

rule(padPrim, (g, [x], _o, { widths }) => [
  slice(
    g,
    widths.map((w) => w[0]),
    widths.map((w, i) => w[0] + x!.shape[i]!),
  ),
]);

rule(concatPrim, (g, xs, _o, { axis }, wanted) => {
  let off = 0;
  return xs.map((x, k) => {
    const starts = x.shape.map((_, i) => (i === axis ? off : 0));
    off += x.shape[axis]!;
    return wanted[k]
      ? slice(
          g,
          starts,
          x.shape.map((d, i) => (i === axis ? off : d)),
        )
      : null;
  });
});

rule(gatherPrim, (g, [x, idx], _o, { axis }) => [scatterAdd(g, idx!, axis, x!.shape), null]);
rule(scatterAddPrim, (g, [, idx], _o, { axis }) => [gather(g, idx!, axis), null]);

rule(
  matmulPrim,
  // with C = op(A)·op(B): ∂op(A) = g·op(B)ᵀ and ∂op(B) = op(A)ᵀ·g, each written
  // as one product whose flags absorb the transposes
  (g, [a, b], _out, { transposeA: ta, transposeB: tb }, wanted) => {
    const mm = (x: Tensor, y: Tensor, transposeA: boolean, transposeB: boolean): Tensor =>
      bind(matmulPrim, [x, y], { transposeA, transposeB });
    const da = () => (ta ? mm(b!, g, tb, true) : mm(g, b!, false, !tb));
    const db = () => {
      // a weight shared by a batch of row-major inputs: the sum over the batch is one
      // product of the stacked rows (the reshapes are free), not a batched product and a sum
      if (b!.ndim === 2 && a!.ndim > 2 && !ta) {
        const rows = (t: Tensor) => reshape(t, [-1, t.shape[t.ndim - 1]!]);
        return tb ? mm(rows(g), rows(a!), true, false) : mm(rows(a!), rows(g), true, false);
      }
      return unbroadcast(tb ? mm(g, a!, true, ta) : mm(a!, g, !ta, false), b!);
    };
    return [wanted[0] ? unbroadcast(da(), a!) : null, wanted[1] ? db() : null];
  },
);

// ∂/∂x = softmax(x) = exp(x − out); a -inf row (out = -inf) takes no gradient rather than NaN
rule(logsumexpPrim, (g, [x], out) => {
  const lse = perRow(out);
  return [mul(perRow(g), exp(sub(x!, where(equal(lse, -Infinity), 0, lse))))];
});

rule(softmaxPrim, (g, _x, y) => [softmaxGrad(y, g)]);

/**
 * softmax's VJP as one kernel: y·(g − Σ y·g) over the last axis, for the
 * softmax output y and its cotangent g (four elementwise and reduction
 * kernels otherwise, on attention's backward path). Its own VJP, for
 * cotangent c, is y·(c − Σ y·c) for g (the map is self-adjoint in g) and
 * c·(g − Σ y·g) − g·Σ y·c for y.
 */
rule(softmaxGradPrim, (c, [y, g], _out, _p, wanted) => [
  wanted[0] ? sub(mul(c, sub(g!, sum(mul(y!, g!), -1, true))), mul(g!, sum(mul(y!, c), -1, true))) : null,
  wanted[1] ? softmaxGrad(y!, c) : null,
]);

// g − softmax·Σ g, with softmax = exp(out)
rule(logSoftmaxPrim, (g, _x, out) => [sub(g, mul(exp(out), sum(g, -1, true)))]);

/**
 * (x − mean)·rsqrt(var + eps)·weight + bias over the last axis, with the
 * biased variance. Backward: with x̂ the normalised row and h = g·weight,
 * ∂x = normGrad(x, h) (one kernel), ∂weight = Σ g·x̂, ∂bias = Σ g over the
 * leading axes (x̂ recomputed by the forward kernel without the affine).
 */
rule(layerNormPrim, (g, inputs, _out, p, wanted) => normVjp(layerNormPrim, true, g, inputs, p, wanted));

/**
 * x·rsqrt(mean(x²) + eps)·weight over the last axis. Backward as for
 * layerNorm, without the centring.
 */
rule(rmsNormPrim, (g, inputs, _out, p, wanted) => normVjp(rmsNormPrim, false, g, inputs, p, wanted));

/**
 * The input cotangent of layerNorm (center) or rmsNorm without affine, as
 * one kernel: with x̂ the normalised row, r = rsqrt(var + eps) (rmsNorm: of
 * mean(x²)) and h the output cotangent times the weight,
 *   ∂x = r·(h − mean(h) − x̂·mean(h·x̂))      (rmsNorm: no mean(h) term).
 * Its own VJP, for cotangent c: the map h ↦ ∂x is r·P·h with P symmetric,
 * so ∂h = normGrad(x, c); and, with m = mean(h·x̂), s = mean(c·x̂) and the
 * means of h and c taken as 0 for rmsNorm,
 *   ∂x = r²·(3·x̂·m·s − x̂·(mean(c·h) − mean(h)·mean(c)) − (h − mean(h))·s − m·(c − mean(c))).
 */
rule(normGradPrim, (c, [x, h], _out, p, wanted) => {
  const rowMean = (t: Tensor) => mean(t, -1, true);
  const centered = p.center ? sub(x!, rowMean(x!)) : x!;
  const r = rsqrt(add(rowMean(mul(centered, centered)), p.eps));
  const xhat = mul(centered, r);
  const [hc, cc] = p.center ? [sub(h!, rowMean(h!)), sub(c, rowMean(c))] : [h!, c];
  const m = rowMean(mul(h!, xhat)),
    s = rowMean(mul(c, xhat));
  const ch = p.center ? sub(rowMean(mul(c, h!)), mul(rowMean(h!), rowMean(c))) : rowMean(mul(c, h!));
  const dx = wanted[0] ? mul(mul(r, r), sub(sub(sub(mul(xhat, mul(mul(m, s), 3)), mul(xhat, ch)), mul(hc, s)), mul(m, cc))) : null;
  return [dx, wanted[1] ? normGrad(x!, c, p) : null];
});

function normVjp(
  prim: typeof layerNormPrim | typeof rmsNormPrim,
  center: boolean,
  g: Tensor,
  [x, ...affine]: readonly Tensor[],
  p: NormParams,
  wanted: readonly boolean[],
): (Tensor | null)[] {
  const w = p.weight ? affine[0]! : null;
  const gx = wanted[0] ? normGrad(x!, w ? mul(g, w) : g, { eps: p.eps, center }) : null;
  const lead = leadingAxes(x!);
  const gw = w && wanted[1] ? sum(mul(g, bind(prim, [x!], { eps: p.eps, weight: false, bias: false })), lead) : null;
  const gb = p.bias && wanted[affine.length] ? sum(g, lead) : null;
  return [gx, ...(w ? [gw] : []), ...(p.bias ? [gb] : [])];
}

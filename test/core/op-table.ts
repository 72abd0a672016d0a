/**
 * THE op table: one row per kernel primitive and per public composite op.
 * It drives the float64 gradient checks (gradients.test.ts), the PyTorch
 * oracle (oracle.test.ts) and, through `materialize`, cross-backend parity
 * runs that draw the same cases in float32 on another device.
 *
 * A row holds:
 * - `arb`: a fast-check arbitrary of concrete cases (plain data plus params),
 *   with shapes that broadcast, size-1 axes, scalars and negative axes, and
 *   values kept away from kinks and poles (see arbitraries.ts);
 * - `fn`: the function under test, written with `ag.*`;
 * - `differentiable` / `smooth`: whether gradients exist, and whether the
 *   function is C² on the drawn domain (then order-2 checks apply);
 * - `torch`: a Python expression for the oracle over `x0, x1, ...` (also the
 *   list `xs`), the params dict `p`, and the helpers of test/oracle/ops.py.
 */
import fc from "fast-check";
import * as ag from "../../src/index.js";
import { normGrad, softmaxGrad } from "../../src/ops/rows.js";
import {
  away,
  axesOf,
  axisOf,
  boolInput,
  broadcastable,
  broadcastSource,
  float32Values,
  floatInputs,
  grid,
  indexInput,
  interval,
  shape,
  type Domain,
  type InputSpec,
  type Shape,
} from "./arbitraries.js";

export interface OpCase<P = any> {
  readonly inputs: readonly InputSpec[];
  readonly params: P;
}

export interface OpRow<P = any> {
  readonly name: string;
  /** The kernel primitive this row calls directly (set on primitive rows). */
  readonly primitive?: string;
  readonly arb: fc.Arbitrary<OpCase<P>>;
  readonly fn: (xs: readonly ag.Tensor[], p: P) => ag.Tensor;
  readonly differentiable: boolean;
  /** C² on the drawn domain: order-2 gradient checks apply. */
  readonly smooth: boolean;
  /**
   * false where the drawn cases sit on ties: autodiff then returns the
   * subgradient PyTorch also picks (shared equally among tied entries), which
   * the oracle checks and finite differences cannot see.
   */
  readonly finiteDifferences?: false;
  /** checkGrads options this row's math requires (never a looser tolerance for a float64 function). */
  readonly check?: ag.CheckGradsOptions;
  readonly torch: string;
}

type FloatDType = "float64" | "float32";

/** A case's inputs as tensors: float inputs in `dtype` (default float64), on `device`. */
export function materialize(c: OpCase, opts: { dtype?: FloatDType; device?: string } = {}): ag.Tensor[] {
  return c.inputs.map((s) =>
    ag.tensor(s.data as number[], {
      shape: s.shape as number[],
      dtype: s.kind === "float" ? (opts.dtype ?? "float64") : s.kind,
      ...(opts.device && { device: opts.device }),
    }),
  );
}

/** `n` reproducible cases of a row. */
export const sampleCases = <P>(row: OpRow<P>, n: number, seed: number): OpCase<P>[] => fc.sample(row.arb, { numRuns: n, seed });

// --- row builders -----------------------------------------------------------

const noParams = (inputs: fc.Arbitrary<InputSpec[]>): fc.Arbitrary<OpCase<Record<string, never>>> =>
  inputs.map((xs) => ({ inputs: xs, params: {} }));

const withParams = <P>(inputs: fc.Arbitrary<InputSpec[]>, params: fc.Arbitrary<P>): fc.Arbitrary<OpCase<P>> =>
  fc.tuple(inputs, params).map(([xs, p]) => ({ inputs: xs, params: p }));

type Unary = (x: ag.Tensor) => ag.Tensor;
type Binary = (a: ag.Tensor, b: ag.Tensor) => ag.Tensor;

/** Elementwise unary primitive over any shape. */
function unary(name: string, f: Unary, domain: Domain, torch: string, differentiable = true): OpRow {
  return {
    name,
    primitive: name,
    differentiable,
    smooth: differentiable,
    torch,
    arb: noParams(shape({ maxRank: 4, maxDim: 3 }).chain((s) => floatInputs([s], domain))),
    fn: ([x]) => f(x!),
  };
}

/** Elementwise binary primitive over two broadcast-compatible shapes. */
function binary(
  name: string,
  f: Binary,
  domains: Domain | [Domain, Domain],
  torch: string,
  o: { differentiable?: boolean; primitive?: string; finiteDifferences?: false } = {},
): OpRow {
  const differentiable = o.differentiable ?? true;
  return {
    name,
    primitive: o.primitive ?? name,
    differentiable,
    smooth: differentiable,
    torch,
    ...(o.finiteDifferences === false && { finiteDifferences: false }),
    arb: noParams(broadcastable(2).chain((ss) => floatInputs(ss, domains))),
    fn: ([a, b]) => f(a!, b!),
  };
}

/** A unary composite over any shape. */
function composite(name: string, f: Unary, domain: Domain, torch: string): OpRow {
  return { ...unary(name, f, domain, torch), primitive: undefined };
}

const anyShape = shape({ maxRank: 4, maxDim: 3 });
const nonScalar = shape({ minRank: 1, maxRank: 4, maxDim: 3 });
const wide = interval(-3, 3);
const positive = interval(0.2, 4);
/** Distinct values 1/16 apart: no ties, so max/argmax/relu have one derivative. */
const separated = grid(-3, 3, 1 / 16, { offset: 1 / 64, distinct: true });
/** Few values, many ties. */
const ties = grid(-1, 1, 0.5);

interface ReduceParams {
  axis: number | number[] | undefined;
  keepdims: boolean;
}

/** A reduction over an axis argument and keepdims. */
function reduction(
  name: string,
  f: (x: ag.Tensor, axis: ReduceParams["axis"], keepdims: boolean) => ag.Tensor,
  domain: Domain,
  torch: string,
  o: { primitive?: string; allowAll?: boolean; allowEmpty?: boolean; finiteDifferences?: false } = {},
): OpRow<ReduceParams> {
  return {
    name,
    primitive: o.primitive,
    differentiable: true,
    smooth: true,
    torch,
    ...(o.finiteDifferences === false && { finiteDifferences: false }),
    arb: anyShape
      .filter((s) => (o.allowAll ?? true) || s.length > 0)
      .chain((s) =>
        withParams(
          floatInputs([s], domain),
          fc.record({ axis: axesOf(s.length, { allowAll: o.allowAll, allowEmpty: o.allowEmpty }), keepdims: fc.boolean() }),
        ),
      ),
    fn: ([x], p) => f(x!, p.axis, p.keepdims),
  };
}

/** Along one axis (negative half the time) of a non-scalar input. */
function alongAxis(
  name: string,
  f: (x: ag.Tensor, axis: number) => ag.Tensor,
  domain: Domain,
  torch: string,
  primitive?: string,
): OpRow<{ axis: number }> {
  return {
    name,
    primitive,
    differentiable: true,
    smooth: true,
    torch,
    arb: nonScalar.chain((s) => withParams(floatInputs([s], domain), fc.record({ axis: axisOf(s.length) }))),
    fn: ([x], p) => f(x!, p.axis),
  };
}

// --- primitive rows ---------------------------------------------------------

const UNARY_ROWS: OpRow[] = [
  unary("neg", ag.neg, wide, "-x0"),
  unary("exp", ag.exp, wide, "torch.exp(x0)"),
  unary("log", ag.log, positive, "torch.log(x0)"),
  unary("log1p", ag.log1p, interval(-0.8, 3), "torch.log1p(x0)"),
  unary("sqrt", ag.sqrt, positive, "torch.sqrt(x0)"),
  unary("rsqrt", ag.rsqrt, positive, "torch.rsqrt(x0)"),
  unary("abs", ag.abs, away(0.1, 3), "torch.abs(x0)"),
  unary("sign", ag.sign, grid(-2, 2, 0.5), "torch.sign(x0)", false),
  unary("tanh", ag.tanh, interval(-4, 4), "torch.tanh(x0)"),
  unary("sigmoid", ag.sigmoid, interval(-8, 8), "torch.sigmoid(x0)"),
  // both branches of erf: the series below |x| = 3, the continued fraction above
  unary("erf", ag.erf, interval(-6.5, 6.5), "torch.erf(x0)"),
  unary("sin", ag.sin, interval(-4, 4), "torch.sin(x0)"),
  unary("cos", ag.cos, interval(-4, 4), "torch.cos(x0)"),
  // never on an integer, where floor jumps
  unary("floor", ag.floor, grid(-3, 3, 0.25, { offset: 0.125 }), "torch.floor(x0)", false),
];

const BINARY_ROWS: OpRow[] = [
  binary("add", ag.add, wide, "x0 + x1"),
  binary("sub", ag.sub, wide, "x0 - x1"),
  binary("mul", ag.mul, wide, "x0 * x1"),
  binary("div", ag.div, [wide, away(0.3, 3)], "x0 / x1"),
  binary("pow", ag.pow, [interval(0.3, 3), interval(-2.5, 2.5)], "torch.pow(x0, x1)"),
  binary("maximum", ag.maximum, separated, "torch.maximum(x0, x1)"),
  binary("minimum", ag.minimum, separated, "torch.minimum(x0, x1)"),
  binary("maximum.ties", ag.maximum, ties, "torch.maximum(x0, x1)", { primitive: "maximum", finiteDifferences: false }),
  binary("minimum.ties", ag.minimum, ties, "torch.minimum(x0, x1)", { primitive: "minimum", finiteDifferences: false }),
  ...(
    [
      ["equal", ag.equal, "torch.eq(x0, x1)"],
      ["notEqual", ag.notEqual, "torch.ne(x0, x1)"],
      ["greater", ag.greater, "torch.gt(x0, x1)"],
      ["greaterEqual", ag.greaterEqual, "torch.ge(x0, x1)"],
      ["less", ag.less, "torch.lt(x0, x1)"],
      ["lessEqual", ag.lessEqual, "torch.le(x0, x1)"],
    ] as const
  ).map(([name, f, torch]) => binary(name, f, ties, torch, { differentiable: false })),
];

const WHERE_ROW: OpRow = {
  name: "where",
  primitive: "where",
  differentiable: true,
  smooth: true,
  torch: "torch.where(x0, x1, x2)",
  arb: noParams(
    broadcastable(3).chain(([c, a, b]) => fc.tuple(boolInput(c!), floatInputs([a!, b!], wide)).map(([cond, xs]) => [cond, ...xs])),
  ),
  fn: ([c, a, b]) => ag.where(c!, a!, b!),
};

type CastTarget = "int32" | "bool" | "float16" | "bfloat16";

const CAST_ROWS: OpRow[] = [
  {
    // float64 -> float32 is linear up to float32 rounding (~6e-8 relative), so
    // finite differences need a step large enough to see past that rounding;
    // a linear map has no truncation error, so the large step costs nothing.
    name: "cast",
    primitive: "cast",
    differentiable: true,
    smooth: false,
    check: { eps: 1e-2, atol: 1e-4, rtol: 1e-4 },
    torch: "x0.to(torch.float32)",
    arb: noParams(anyShape.chain((s) => floatInputs([s], wide))),
    fn: ([x]) => ag.cast(x!, "float32"),
  },
  {
    // float -> int32 truncates toward zero; float -> bool tests != 0
    name: "cast.toIntBool",
    primitive: "cast",
    differentiable: false,
    smooth: false,
    torch: "x0.to(DT[p['to']])",
    arb: anyShape.chain((s) =>
      withParams(floatInputs([s], grid(-3, 3, 0.25)), fc.record({ to: fc.constantFrom<CastTarget>("int32", "bool") })),
    ),
    fn: ([x], p) => ag.cast(x!, p.to),
  },
  {
    // round-to-nearest-even into a 16-bit format and back; values exactly
    // representable in float32, because PyTorch rounds doubles through float32
    name: "cast.half",
    primitive: "cast",
    differentiable: false,
    smooth: false,
    torch: "x0.to(DT[p['to']]).to(x0.dtype)",
    arb: anyShape.chain((s) =>
      withParams(floatInputs([s], float32Values(-70000, 70000)), fc.record({ to: fc.constantFrom<CastTarget>("float16", "bfloat16") })),
    ),
    fn: ([x], p) => ag.cast(ag.cast(x!, p.to), x!.dtype),
  },
  {
    // int32 -> the run's float dtype (taken from a float input)
    name: "cast.fromInt",
    primitive: "cast",
    differentiable: true,
    smooth: true,
    torch: "x0.to(x1.dtype) + x1",
    arb: noParams(anyShape.chain((s) => fc.tuple(indexInput(s, 7), floatInputs([s], wide)).map(([i, xs]) => [i, ...xs]))),
    fn: ([i, x]) => ag.add(ag.cast(i!, x!.dtype), x!),
  },
];

const REDUCE_ROWS: OpRow[] = [
  reduction("sum", ag.sum, wide, "tsum(x0, p.get('axis'), p['keepdims'])", { primitive: "sum", allowEmpty: true }),
  reduction("max", ag.max, separated, "tamax(x0, p.get('axis'), p['keepdims'])", { primitive: "max" }),
  reduction("max.ties", ag.max, ties, "tamax(x0, p.get('axis'), p['keepdims'])", { primitive: "max", finiteDifferences: false }),
  {
    // ties resolve to the first maximum, as in PyTorch
    name: "argmax",
    primitive: "argmax",
    differentiable: false,
    smooth: false,
    torch: "torch.argmax(x0, dim=p['axis'], keepdim=p['keepdims'])",
    arb: nonScalar.chain((s) => withParams(floatInputs([s], ties), fc.record({ axis: axisOf(s.length), keepdims: fc.boolean() }))),
    fn: ([x], p) => ag.argmax(x!, p.axis, p.keepdims),
  },
];

interface ReshapeParams {
  shape: number[];
}

/** A new shape of the same size: the factors regrouped, 1s added, one entry maybe -1. */
function reshapeTarget(s: Shape): fc.Arbitrary<ReshapeParams> {
  const factors = s.flatMap((d) => (d === 4 ? [2, 2] : d === 1 ? [] : [d]));
  return fc
    .record({
      order: fc.shuffledSubarray(factors, { minLength: factors.length, maxLength: factors.length }),
      cuts: fc.array(fc.boolean(), { minLength: factors.length, maxLength: factors.length }),
      ones: fc.array(fc.integer({ min: 0, max: factors.length }), { maxLength: 2 }),
      hole: fc.option(fc.nat(), { nil: undefined }),
    })
    .map(({ order, cuts, ones, hole }) => {
      const out: number[] = [];
      order.forEach((f, i) => (i === 0 || cuts[i] ? out.push(f) : (out[out.length - 1]! *= f)));
      for (const at of ones) out.splice(Math.min(at, out.length), 0, 1);
      if (hole !== undefined && out.length > 0) out[hole % out.length] = -1;
      return { shape: out };
    });
}

const resolved = (target: readonly number[], from: readonly number[]) => {
  const size = from.reduce((a, b) => a * b, 1),
    known = target.reduce((a, b) => (b === -1 ? a : a * b), 1);
  return target.map((d) => (d === -1 ? size / known : d));
};

/** A permutation of the axes, some written negative; or undefined (reverse). */
const permutationOf = (rank: number): fc.Arbitrary<number[] | undefined> =>
  fc.option(
    fc
      .shuffledSubarray([...Array(rank).keys()], { minLength: rank, maxLength: rank })
      .chain((perm) =>
        fc.array(fc.boolean(), { minLength: rank, maxLength: rank }).map((neg) => perm.map((a, i) => (neg[i] ? a - rank : a))),
      ),
    { nil: undefined },
  );

/** Python-style slice bounds per axis, out-of-range ones included; some trailing axes left whole. */
const sliceBounds = (s: Shape) =>
  fc
    .tuple(
      ...s.map((d) =>
        fc.tuple(fc.integer({ min: -d - 1, max: d + 1 }), fc.option(fc.integer({ min: -d - 1, max: d + 1 }), { nil: undefined })),
      ),
    )
    .chain((bounds) =>
      fc.integer({ min: 0, max: bounds.length }).map((keep) => ({
        starts: bounds.slice(0, keep).map((b) => b[0]),
        ends: bounds.slice(0, keep).map((b) => b[1]),
      })),
    );

interface GatherParams {
  axis: number;
}
interface ScatterParams {
  axis: number;
  shape: number[];
}

const SHAPE_ROWS: OpRow[] = [
  {
    name: "reshape",
    primitive: "reshape",
    differentiable: true,
    smooth: true,
    torch: "x0.reshape(p['shape'])",
    arb: anyShape
      .filter((s) => s.some((d) => d !== 1))
      .chain((s) => withParams(floatInputs([s], wide), reshapeTarget(s)))
      .filter((c) => resolved(c.params.shape, c.inputs[0]!.shape).join() !== c.inputs[0]!.shape.join()),
    fn: ([x], p: ReshapeParams) => ag.reshape(x!, p.shape),
  },
  {
    name: "transpose",
    primitive: "transpose",
    differentiable: true,
    smooth: true,
    torch: "tpermute(x0, p.get('perm'))",
    arb: shape({ minRank: 2, maxRank: 4 })
      .chain((s) => withParams(floatInputs([s], wide), fc.record({ perm: permutationOf(s.length) })))
      .filter(
        (c) =>
          c.params.perm === undefined ||
          c.params.perm.some((a: number, i: number) => (a + c.inputs[0]!.shape.length) % c.inputs[0]!.shape.length !== i),
      ),
    fn: ([x], p: { perm?: number[] }) => ag.transpose(x!, p.perm),
  },
  {
    name: "broadcastTo",
    primitive: "broadcastTo",
    differentiable: true,
    smooth: true,
    torch: "torch.broadcast_to(x0, p['shape'])",
    arb: shape({ minRank: 1, maxRank: 4 }).chain((out) =>
      withParams(
        broadcastSource(out)
          .filter((s) => s.join() !== out.join())
          .chain((s) => floatInputs([s], wide)),
        fc.constant({ shape: out }),
      ),
    ),
    fn: ([x], p: { shape: number[] }) => ag.broadcastTo(x!, p.shape),
  },
  {
    name: "slice",
    primitive: "slice",
    differentiable: true,
    smooth: true,
    torch: "tslice(x0, p['starts'], p['ends'])",
    arb: nonScalar.chain((s) => withParams(floatInputs([s], wide), sliceBounds(s))),
    fn: ([x], p: { starts: number[]; ends: (number | undefined)[] }) => ag.slice(x!, p.starts, p.ends),
  },
  {
    name: "pad",
    primitive: "pad",
    differentiable: true,
    smooth: true,
    torch: "tpad(x0, p['widths'])",
    arb: nonScalar.chain((s) =>
      withParams(
        floatInputs([s], wide),
        fc.record({
          widths: fc.tuple(...s.map(() => fc.tuple(fc.nat(2), fc.nat(2)))),
        }),
      ),
    ),
    fn: ([x], p: { widths: [number, number][] }) => ag.pad(x!, p.widths),
  },
  {
    name: "concat",
    primitive: "concat",
    differentiable: true,
    smooth: true,
    torch: "torch.cat(xs, p['axis'])",
    arb: nonScalar.chain((s) =>
      fc.tuple(axisOf(s.length), fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 2, maxLength: 4 })).chain(([axis, sizes]) => {
        const shapes = sizes.map((d) => s.map((e, i) => (i === (axis + s.length) % s.length ? d : e)));
        return withParams(floatInputs(shapes, wide), fc.constant({ axis }));
      }),
    ),
    fn: (xs, p: { axis: number }) => ag.concat(xs, p.axis),
  },
  {
    // numpy `take`: out = x.shape[:axis] + indices.shape + x.shape[axis+1:]; repeats allowed
    name: "gather",
    primitive: "gather",
    differentiable: true,
    smooth: true,
    torch: "ttake(x0, x1, p['axis'])",
    arb: nonScalar.chain((s) =>
      fc.tuple(axisOf(s.length), shape({ maxRank: 2 })).chain(([axis, is]) =>
        withParams(
          fc.tuple(floatInputs([s], wide), indexInput(is, s.at(axis)!)).map(([xs, i]) => [...xs, i]),
          fc.constant({ axis }),
        ),
      ),
    ),
    fn: ([x, i], p: GatherParams) => ag.gather(x!, i!, p.axis),
  },
  {
    // repeated indices accumulate
    name: "scatterAdd",
    primitive: "scatterAdd",
    differentiable: true,
    smooth: true,
    torch: "tscatter_add(x0, x1, p['axis'], p['shape'])",
    arb: nonScalar.chain((s) =>
      fc.tuple(axisOf(s.length), shape({ maxRank: 2 })).chain(([axis, is]) => {
        const a = (axis + s.length) % s.length;
        const upd = [...s.slice(0, a), ...is, ...s.slice(a + 1)];
        return withParams(
          fc.tuple(floatInputs([upd], wide), indexInput(is, s[a]!)).map(([xs, i]) => [...xs, i]),
          fc.constant({ axis, shape: s }),
        );
      }),
    ),
    fn: ([u, i], p: ScatterParams) => ag.scatterAdd(u!, i!, p.axis, p.shape),
  },
  {
    // batch dims broadcast; a 1-D operand is a row (left) or column (right) vector; a 2-D+ operand may be transposed in the product
    name: "matmul",
    primitive: "matmul",
    differentiable: true,
    smooth: true,
    torch: "torch.matmul(x0.mT if p['transposeA'] else x0, x1.mT if p['transposeB'] else x1)",
    arb: fc
      .record({
        batch: broadcastable(2, { maxRank: 2 }),
        m: fc.integer({ min: 1, max: 3 }),
        k: fc.integer({ min: 1, max: 4 }),
        n: fc.integer({ min: 1, max: 3 }),
        vec: fc.constantFrom("none", "none", "left", "right", "both"),
        ta: fc.boolean(),
        tb: fc.boolean(),
      })
      .chain(({ batch: [ba, bb], m, k, n, vec, ta, tb }) => {
        const transposeA = ta && vec !== "left" && vec !== "both",
          transposeB = tb && vec !== "right" && vec !== "both";
        const a = vec === "left" || vec === "both" ? [k] : [...ba!, ...(transposeA ? [k, m] : [m, k])];
        const b = vec === "right" || vec === "both" ? [k] : [...bb!, ...(transposeB ? [n, k] : [k, n])];
        return withParams(floatInputs([a, b], wide), fc.constant({ transposeA, transposeB }));
      }),
    fn: ([a, b], p: ag.MatmulOptions) => ag.matmul(a!, b!, p),
  },
];

// --- fused row primitives (over the last axis; the ops move other axes there) ------

/**
 * x [..., D] with optional weight and bias [D]. The x domain keeps each row's
 * variance (layerNorm) or mean square (rmsNorm) well above eps: near zero the
 * normalisation bends on a scale of sqrt(eps), too sharp for finite differences.
 */
interface NormParams {
  eps: number;
  weight: boolean;
  bias: boolean;
}

function normCases(withBias: boolean, xDomain: Domain): fc.Arbitrary<OpCase<NormParams>> {
  return fc
    .tuple(shape({ minRank: 1, maxRank: 3 }), fc.integer({ min: 1, max: 4 }), fc.boolean(), fc.boolean(), fc.constantFrom(1e-5, 1e-3, 0.1))
    .chain(([lead, d, weight, bias, eps]) => {
      const s = [...lead.slice(0, -1), d];
      const affine = (weight ? 1 : 0) + (withBias && bias ? 1 : 0);
      return withParams(
        floatInputs([s, ...Array<Shape>(affine).fill([d])], [xDomain, wide, wide].slice(0, affine + 1)),
        fc.constant({ eps, weight, bias: withBias && bias }),
      );
    });
}

/** The weight and bias of a norm case's inputs, by its params. */
const affineOf = (rest: readonly ag.Tensor[], p: NormParams) => ({ w: p.weight ? rest[0]! : null, b: p.bias ? rest.at(-1)! : null });

const ROW_ROWS: OpRow[] = [
  // an undefined axis means the last one for logsumexp, so it is never drawn
  reduction("logsumexp", ag.logsumexp, interval(-4, 4), "torch.logsumexp(x0, dim=tdims(x0, p['axis']), keepdim=p['keepdims'])", {
    primitive: "logsumexp",
    allowAll: false,
  }),
  alongAxis("softmax", ag.softmax, interval(-4, 4), "torch.softmax(x0, p['axis'])", "softmax"),
  alongAxis("logSoftmax", ag.logSoftmax, interval(-4, 4), "torch.log_softmax(x0, p['axis'])", "logSoftmax"),
  {
    // softmax's VJP y·(g − Σ y·g) as its own kernel; a polynomial in (y, g), so any values do
    name: "softmaxGrad",
    primitive: "softmaxGrad",
    differentiable: true,
    smooth: true,
    torch: "x0 * (x1 - (x0 * x1).sum(-1, keepdim=True))",
    arb: nonScalar.chain((s) => noParams(floatInputs([s, s], wide))),
    fn: ([y, g]) => softmaxGrad(y!, g!),
  },
  {
    name: "layerNorm",
    primitive: "layerNorm",
    differentiable: true,
    smooth: true,
    torch: "F.layer_norm(x0, x0.shape[-1:], xs[1] if p['weight'] else None, xs[-1] if p['bias'] else None, p['eps'])",
    arb: normCases(true, separated),
    fn: ([x, ...rest], p: NormParams) => {
      const { w, b } = affineOf(rest, p);
      return ag.layerNorm(x!, w, b, p.eps);
    },
  },
  {
    name: "rmsNorm",
    primitive: "rmsNorm",
    differentiable: true,
    smooth: true,
    torch: "trms_norm(x0, x1 if p['weight'] else None, p['eps'])",
    arb: normCases(false, away(0.1, 3)),
    fn: ([x, ...rest], p: NormParams) => ag.rmsNorm(x!, affineOf(rest, p).w, p.eps),
  },
  {
    // the norms' input VJP as its own kernel, at x (domains as for the norms) and any cotangent h
    name: "normGrad",
    primitive: "normGrad",
    differentiable: true,
    smooth: true,
    torch: "tnorm_grad(x0, x1, p['eps'], p['center'])",
    arb: fc
      .tuple(shape({ minRank: 1, maxRank: 3 }), fc.integer({ min: 1, max: 4 }), fc.boolean(), fc.constantFrom(1e-5, 1e-3, 0.1))
      .chain(([lead, d, center, eps]) => {
        const s = [...lead.slice(0, -1), d];
        return withParams(floatInputs([s, s], [center ? separated : away(0.1, 3), wide]), fc.constant({ eps, center }));
      }),
    fn: ([x, h], p: { eps: number; center: boolean }) => normGrad(x!, h!, p),
  },
];

// --- composite rows ---------------------------------------------------------

/** Multi-head causal self-attention: x [B, T, D] and four [D, D] projections. */
function causalAttention([x, wq, wk, wv, wo]: readonly ag.Tensor[], { heads }: { heads: number }): ag.Tensor {
  const [B, T, D] = x!.shape as [number, number, number];
  const dh = D / heads;
  const toHeads = (t: ag.Tensor) => ag.transpose(ag.reshape(t, [B, T, heads, dh]), [0, 2, 1, 3]);
  const q = toHeads(ag.matmul(x!, wq!)),
    k = toHeads(ag.matmul(x!, wk!)),
    v = toHeads(ag.matmul(x!, wv!));
  const scores = ag.div(ag.matmul(q, ag.mT(k)), Math.sqrt(dh));
  const pos = ag.arange(T, { device: x!.device });
  const causal = ag.greaterEqual(ag.expandDims(pos, -1), pos); // query i sees keys j <= i
  const probs = ag.softmax(ag.where(causal, scores, -Infinity), -1);
  const merged = ag.reshape(ag.transpose(ag.matmul(probs, v), [0, 2, 1, 3]), [B, T, D]);
  return ag.matmul(merged, wo!);
}

interface ConvParams {
  stride: number | [number, number];
  padding: number | [number, number];
  bias: boolean;
}

const pairArb = (lo: number, hi: number) =>
  fc.oneof(fc.integer({ min: lo, max: hi }), fc.tuple(fc.integer({ min: lo, max: hi }), fc.integer({ min: lo, max: hi })));
const pairOf = (v: number | [number, number]): [number, number] => (typeof v === "number" ? [v, v] : v);

/** conv2d cases: im2col (any stride/padding) or tiling patches (the ViT patch embedding). */
function convCases(kind: "im2col" | "patches"): fc.Arbitrary<OpCase<ConvParams>> {
  const dims = fc.record({
    n: fc.integer({ min: 1, max: 2 }),
    c: fc.integer({ min: 1, max: 2 }),
    o: fc.integer({ min: 1, max: 3 }),
    kh: fc.integer({ min: 1, max: 3 }),
    kw: fc.integer({ min: 1, max: 3 }),
    bias: fc.boolean(),
  });
  return dims.chain((d) => {
    const geometry =
      kind === "patches"
        ? fc.record({ gh: fc.integer({ min: 1, max: 3 }), gw: fc.integer({ min: 1, max: 3 }) }).map(({ gh, gw }) => ({
            h: gh * d.kh,
            w: gw * d.kw,
            stride: (d.kh === d.kw ? d.kh : [d.kh, d.kw]) as ConvParams["stride"],
            padding: 0 as ConvParams["padding"],
          }))
        : fc
            .record({ h: fc.integer({ min: 2, max: 5 }), w: fc.integer({ min: 2, max: 5 }), stride: pairArb(1, 2), padding: pairArb(0, 1) })
            .filter(({ h, w, padding }) => h + 2 * pairOf(padding)[0] >= d.kh && w + 2 * pairOf(padding)[1] >= d.kw);
    return geometry.chain((g) => {
      const shapes: Shape[] = [[d.n, d.c, g.h, g.w], [d.o, d.c, d.kh, d.kw], ...(d.bias ? [[d.o]] : [])];
      return withParams(floatInputs(shapes, interval(-2, 2)), fc.constant({ stride: g.stride, padding: g.padding, bias: d.bias }));
    });
  });
}

const conv2dRow = (kind: "im2col" | "patches"): OpRow<ConvParams> => ({
  name: `conv2d.${kind}`,
  differentiable: true,
  smooth: true,
  torch: "F.conv2d(x0, x1, x2 if p['bias'] else None, stride=p['stride'], padding=p['padding'])",
  arb: convCases(kind),
  fn: ([x, w, b], p) => ag.conv2d(x!, w!, { bias: b ?? null, stride: p.stride, padding: p.padding }),
});

const COMPOSITE_ROWS: OpRow[] = [
  reduction("mean", ag.mean, wide, "tmean(x0, p.get('axis'), p['keepdims'])", { allowEmpty: true }),
  reduction("min", ag.min, separated, "tamin(x0, p.get('axis'), p['keepdims'])"),
  composite("logSigmoid", ag.logSigmoid, interval(-12, 12), "F.logsigmoid(x0)"),
  composite("softplus", ag.softplus, interval(-12, 12), "F.softplus(x0)"),
  composite("relu", ag.relu, away(0.05, 3), "torch.relu(x0)"),
  composite("silu", ag.silu, interval(-6, 6), "F.silu(x0)"),
  composite("gelu", (x) => ag.gelu(x), interval(-5, 5), "F.gelu(x0)"),
  composite("gelu.tanh", (x) => ag.gelu(x, { approximate: "tanh" }), interval(-5, 5), "F.gelu(x0, approximate='tanh')"),
  {
    // x stays 1/32 away from both bounds, where clip has kinks
    name: "clip",
    differentiable: true,
    smooth: true,
    torch: "torch.clamp(x0, p['lo'], p['hi'])",
    arb: anyShape.chain((s) =>
      withParams(
        floatInputs([s], grid(-3, 3, 1 / 16, { offset: 1 / 32 })),
        fc.tuple(fc.integer({ min: -24, max: 24 }), fc.integer({ min: 0, max: 24 })).map(([lo, w]) => ({ lo: lo / 16, hi: (lo + w) / 16 })),
      ),
    ),
    fn: ([x], p: { lo: number; hi: number }) => ag.clip(x!, p.lo, p.hi),
  },
  conv2dRow("im2col"),
  conv2dRow("patches"),
  {
    // one-hot rows used as a mask on a float input
    name: "oneHot",
    differentiable: true,
    smooth: true,
    torch: "F.one_hot(x0, p['depth']).to(x1.dtype) * x1",
    arb: fc.tuple(shape({ maxRank: 2 }), fc.integer({ min: 1, max: 4 })).chain(([s, depth]) =>
      withParams(
        fc.tuple(indexInput(s, depth), floatInputs([[...s, depth]], wide)).map(([i, xs]) => [i, ...xs]),
        fc.constant({ depth }),
      ),
    ),
    fn: ([i, x], p: { depth: number }) => ag.mul(ag.oneHot(i!, p.depth, x!.dtype), x!),
  },
  {
    name: "stack",
    differentiable: true,
    smooth: true,
    torch: "torch.stack(xs, p['axis'])",
    arb: anyShape.chain((s) =>
      fc.tuple(fc.integer({ min: 1, max: 3 }), axisOf(s.length + 1)).chain(([k, axis]) =>
        withParams(
          floatInputs(
            Array.from({ length: k }, () => s),
            wide,
          ),
          fc.constant({ axis }),
        ),
      ),
    ),
    fn: (xs, p: { axis: number }) => ag.stack(xs, p.axis),
  },
  {
    // each part is scaled by its position before re-concatenation, so a part
    // routed to the wrong place shows up in values and gradients
    name: "split",
    differentiable: true,
    smooth: true,
    torch: "tsplit_weighted(x0, p['parts'], p['axis'])",
    arb: nonScalar.chain((s) =>
      axisOf(s.length).chain((axis) => {
        const d = s.at(axis)!;
        const divisors = [...Array(d).keys()].map((i) => i + 1).filter((k) => d % k === 0);
        const parts = fc.oneof(
          fc.constantFrom(...divisors),
          fc.array(fc.integer({ min: 0, max: d }), { minLength: 1, maxLength: 3 }).map((cuts) => {
            const sorted = [0, ...[...cuts].sort((a, b) => a - b), d];
            return sorted.slice(1).map((c, i) => c - sorted[i]!);
          }),
        );
        return withParams(floatInputs([s], wide), fc.record({ parts, axis: fc.constant(axis) }));
      }),
    ),
    fn: ([x], p: { parts: number | number[]; axis: number }) =>
      ag.concat(
        ag.split(x!, p.parts, p.axis).map((t, i) => ag.mul(t, i + 1)),
        p.axis,
      ),
  },
  {
    name: "expandDims",
    differentiable: true,
    smooth: true,
    torch: "torch.unsqueeze(x0, p['axis'])",
    arb: anyShape.chain((s) => withParams(floatInputs([s], wide), fc.record({ axis: axisOf(s.length + 1) }))),
    fn: ([x], p: { axis: number }) => ag.expandDims(x!, p.axis),
  },
  {
    name: "squeeze",
    differentiable: true,
    smooth: true,
    torch: "tsqueeze(x0, p.get('axis'))",
    arb: shape({ minRank: 1, maxRank: 4, maxDim: 2 })
      .filter((s) => s.includes(1))
      .chain((s) => {
        const unit = s.flatMap((d, i) => (d === 1 ? [i, i - s.length] : []));
        return withParams(
          floatInputs([s], wide),
          fc.record({
            axis: fc.option(
              fc.oneof(
                fc.constantFrom(...unit),
                fc
                  .subarray(unit, { minLength: 1 })
                  .filter((axes) => new Set(axes.map((a) => (a + s.length) % s.length)).size === axes.length),
              ),
              { nil: undefined },
            ),
          }),
        );
      }),
    fn: ([x], p: { axis?: number | number[] }) => ag.squeeze(x!, p.axis),
  },
  {
    name: "causalAttention",
    differentiable: true,
    smooth: true,
    torch: "tcausal_attention(x0, x1, x2, x3, x4, p['heads'])",
    arb: fc
      .record({
        b: fc.integer({ min: 1, max: 2 }),
        t: fc.integer({ min: 1, max: 4 }),
        heads: fc.integer({ min: 1, max: 2 }),
        dh: fc.integer({ min: 1, max: 3 }),
      })
      .chain(({ b, t, heads, dh }) => {
        const D = heads * dh;
        return withParams(
          floatInputs(
            [
              [b, t, D],
              [D, D],
              [D, D],
              [D, D],
              [D, D],
            ],
            interval(-1, 1),
          ),
          fc.constant({ heads }),
        );
      }),
    fn: causalAttention,
  },
];

export const OP_TABLE: readonly OpRow[] = [
  ...UNARY_ROWS,
  ...BINARY_ROWS,
  WHERE_ROW,
  ...CAST_ROWS,
  ...REDUCE_ROWS,
  ...SHAPE_ROWS,
  ...ROW_ROWS,
  ...COMPOSITE_ROWS,
];

export const rowByName = (name: string): OpRow => {
  const row = OP_TABLE.find((r) => r.name === name);
  if (!row) throw new Error(`no op-table row named ${name}`);
  return row;
};

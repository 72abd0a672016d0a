/**
 * Properties of the function transforms (grad, vjp, jvp, stopGradient,
 * customVjp) and the errors they and the ops raise, in float64.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { buildTree, floatInputs, interval, pytree, shape, type InputSpec } from "./arbitraries.js";
import { dot, expectClose } from "./close.js";

const NUM_RUNS = process.env.ANCHORGRAD_FULL === "1" ? 500 : 60;
const SEED = Number(process.env.FC_SEED ?? 424242);
const property = <T>(arb: fc.Arbitrary<T>, body: (v: T) => void) =>
  fc.assert(
    fc.property(arb, (v) => ag.scope(() => body(v))),
    { numRuns: NUM_RUNS, seed: SEED, includeErrorInReport: true },
  );

const f64 = (s: InputSpec) => ag.tensor(s.data as number[], { shape: s.shape as number[], dtype: "float64" });
/** A float64 tensor of any shape (scalars included) with values in [lo, hi]. */
const tensorArb = (lo = -2, hi = 2, o: { minRank?: number } = {}) =>
  shape({ maxRank: 3, ...o })
    .chain((s) => floatInputs([s], interval(lo, hi)))
    .map(([s]) => s!);
const anyOf = <T>(table: readonly (readonly [string, T])[]) => fc.constantFrom(...table);

type Fn = (x: ag.Tensor) => ag.Tensor;

/** Smooth scalar functions of a tensor of any shape. */
const SCALAR_FNS: readonly (readonly [string, Fn])[] = [
  ["Σ sin", (x) => ag.sum(ag.sin(x))],
  ["logsumexp", (x) => ag.logsumexp(ag.reshape(x, [-1]))],
  ["Σ x·exp(0.3x)", (x) => ag.sum(ag.mul(x, ag.exp(ag.mul(x, 0.3))))],
  ["mean softplus", (x) => ag.mean(ag.softplus(x))],
  ["Σ x²", (x) => ag.sum(ag.mul(x, x))],
];

/** Smooth maps that keep the shape (rank >= 1). */
const SHAPE_FNS: readonly (readonly [string, Fn])[] = [
  ["tanh", ag.tanh],
  ["softmax", (x) => ag.softmax(x, -1)],
  ["silu", ag.silu],
  ["layerNorm", (x) => ag.layerNorm(x)],
  ["x·softmax over axis 0", (x) => ag.mul(x, ag.softmax(x, 0))],
];

/** Smooth maps to other shapes (rank >= 1 input). */
const RESHAPING_FNS: readonly (readonly [string, Fn])[] = [
  ["exp", ag.exp],
  ["Σ over last axis", (x) => ag.sum(x, -1)],
  ["x xᵀ", (x) => ag.matmul(x, ag.mT(x.ndim === 1 ? ag.expandDims(x, 0) : x))],
  ["logSoftmax then max", (x) => ag.max(ag.logSoftmax(x, -1), 0)],
  ["gelu of a slice", (x) => ag.gelu(ag.slice(x, [0], [1]))],
];

describe("grad is linear", () => {
  it("grad(a·f + b·g) = a·grad f + b·grad g", () => {
    const coef = fc.double({ min: -3, max: 3, noNaN: true });
    property(fc.tuple(tensorArb(), anyOf(SCALAR_FNS), anyOf(SCALAR_FNS), coef, coef), ([xs, [, f], [, g], a, b]) => {
      const x = f64(xs);
      const combined = ag.grad((y: ag.Tensor) => ag.add(ag.mul(f(y), a), ag.mul(g(y), b)))(x);
      const separate = ag.add(ag.mul(ag.grad(f)(x), a), ag.mul(ag.grad(g)(x), b));
      expectClose(combined, separate, { rtol: 1e-12, atol: 1e-13 });
    });
  });
});

describe("the chain rule", () => {
  it("vjp of g∘f equals the vjp of f applied to the vjp of g", () => {
    const arb = fc.tuple(tensorArb(-2, 2, { minRank: 1 }), anyOf(SHAPE_FNS), anyOf(RESHAPING_FNS), fc.integer({ min: 0, max: 1000 }));
    property(arb, ([xs, [, f], [, g], seed]) => {
      const x = f64(xs);
      const [out, pullComposed] = ag.vjp((y: ag.Tensor) => g(f(y)), x);
      const u = ag.randomNormal(out.shape, { seed, dtype: "float64" });
      const [fx, pullF] = ag.vjp(f, x);
      const [, pullG] = ag.vjp(g, fx);
      expectClose(pullComposed(u), pullF(pullG(u)), { rtol: 1e-12, atol: 1e-13 });
    });
  });
});

describe("stopGradient", () => {
  it("has zero gradient, and stops only the factor it wraps", () => {
    property(tensorArb(), (xs) => {
      const x = f64(xs);
      expectClose(ag.grad((y: ag.Tensor) => ag.sum(ag.exp(ag.stopGradient(y))))(x), ag.zerosLike(x));
      // d/dx Σ sg(x)·x = sg(x) = x
      expectClose(ag.grad((y: ag.Tensor) => ag.sum(ag.mul(ag.stopGradient(y), y)))(x), x);
    });
  });

  it("blocks every level of a nested gradient", () => {
    property(tensorArb(), (xs) => {
      const x = f64(xs);
      // inner: ∇ Σ sg(y)·y² = 2·sg(y)·y; outer: ∇ Σ 2·sg(x)·x = 2x (6x without the stop)
      const inner = (y: ag.Tensor) => ag.grad((z: ag.Tensor) => ag.sum(ag.mul(ag.stopGradient(z), ag.mul(z, z))))(y);
      expectClose(ag.grad((y: ag.Tensor) => ag.sum(inner(y)))(x), ag.mul(x, 2));
    });
  });
});

describe("customVjp", () => {
  it("is honoured: grad returns what its backward returns, the value is the forward's", () => {
    const scaled = ag.customVjp(
      (x) => ag.sin(x),
      (g) => [ag.mul(g, 3)],
    );
    property(tensorArb(), (xs) => {
      const x = f64(xs);
      const [value, g] = ag.valueAndGrad((y: ag.Tensor) => ag.sum(scaled(y)))(x);
      expectClose(value, ag.sum(ag.sin(x)));
      expectClose(g, ag.full(x.shape, 3, { dtype: "float64" }));
    });
  });

  it("routes a null cotangent to zero, and a straight-through estimator passes the gradient", () => {
    const firstOnly = ag.customVjp(
      (a, b) => ag.mul(a!, b!),
      (g, [, b]) => [ag.mul(g, b!), null],
    );
    const roundST = ag.customVjp(
      (x) => ag.floor(ag.add(x!, 0.5)),
      (g) => [g],
      "roundStraightThrough",
    );
    const pair = shape({ maxRank: 3 }).chain((s) => floatInputs([s, s], interval(-2, 2)));
    property(pair, ([as, bs]) => {
      const a = f64(as!),
        b = f64(bs!);
      const [ga, gb] = ag.grad(([p, q]: ag.Tensor[]) => ag.sum(firstOnly(p!, q!)))([a, b]) as ag.Tensor[];
      expectClose(ga!, b);
      expectClose(gb!, ag.zerosLike(b));
      expectClose(ag.grad((y: ag.Tensor) => ag.sum(roundST(y)))(a), ag.onesLike(a));
    });
  });

  it("nests: a custom rule written with ops has a second derivative", () => {
    const mySin = ag.customVjp(
      (x) => ag.sin(x!),
      (g, [x]) => [ag.mul(g, ag.cos(x!))],
    );
    property(tensorArb(), (xs) => {
      const x = f64(xs);
      const d2 = ag.grad((y: ag.Tensor) => ag.sum(ag.grad((z: ag.Tensor) => ag.sum(mySin(z)))(y)))(x);
      expectClose(d2, ag.neg(ag.sin(x)));
    });
  });

  it("lets checkGrads catch a wrong backward with a readable report", () => {
    // right everywhere except at flat index 2
    const wrongAt2 = ag.customVjp(
      (x) => ag.sin(x!),
      (g, [x]) => [ag.mul(g, ag.add(ag.cos(x!), ag.oneHot(ag.tensor(2, { dtype: "int32" }), 4, "float64")))],
    );
    const x = ag.tensor([0.1, -0.7, 1.3, 2.0], { dtype: "float64" });
    let report = "";
    try {
      ag.checkGrads((y: ag.Tensor) => ag.sum(wrongAt2(y)), [x]);
    } catch (e) {
      expect(e).toBeInstanceOf(ag.GradCheckError);
      report = (e as Error).message;
    }
    expect(report).toMatch(/order-1 derivative of argument 0 \(shape \[4\]\) disagrees with central differences/);
    expect(report).toMatch(/autodiff -?\d.*finite difference -?\d/);
    // the worst element is index 2, with both values: autodiff cos(1.3) + 1, finite difference cos(1.3)
    const worst = report.match(/Worst element \[2\]: autodiff (\S+), finite difference (\S+?)\.$/);
    expect(worst).not.toBeNull();
    expect(Number(worst![1])).toBeCloseTo(Math.cos(1.3) + 1, 8);
    expect(Number(worst![2])).toBeCloseTo(Math.cos(1.3), 8);
    // and the right rule passes
    const right = ag.customVjp(
      (y) => ag.sin(y!),
      (g, [y]) => [ag.mul(g, ag.cos(y!))],
    );
    ag.checkGrads((y: ag.Tensor) => ag.sum(right(y)), [x], { order: 2 });
  });

  it("reports a backward that returns the wrong number of cotangents", () => {
    const bad = ag.customVjp(
      (x) => ag.exp(x!),
      (g) => [g, g],
      "badExp",
    );
    expect(() => ag.grad((y: ag.Tensor) => ag.sum(bad(y)))(ag.ones([2], { dtype: "float64" }))).toThrow(
      /badExp: backward returned 2 cotangents for 1 inputs/,
    );
  });
});

describe("jvp", () => {
  it("agrees with vjp: ⟨J v, u⟩ = ⟨v, Jᵀ u⟩", () => {
    const arb = fc.tuple(tensorArb(-2, 2, { minRank: 1 }), anyOf([...SHAPE_FNS, ...RESHAPING_FNS]), fc.integer({ min: 0, max: 1000 }));
    property(arb, ([xs, [, f], seed]) => {
      const x = f64(xs);
      const v = ag.randomNormal(x.shape, { seed, dtype: "float64" });
      const [out, jv] = ag.jvp(f, x, v);
      const u = ag.randomNormal(out.shape, { seed: seed + 1, dtype: "float64" });
      const vjpU = ag.vjp(f, x)[1](u);
      const lhs = dot(jv, u),
        rhs = dot(v, vjpU);
      expect(Math.abs(lhs - rhs)).toBeLessThanOrEqual(1e-11 * (1 + Math.abs(rhs)));
      expectClose(out, f(x));
    });
  });

  it("matches central differences", () => {
    property(fc.tuple(tensorArb(-2, 2, { minRank: 1 }), anyOf(SHAPE_FNS), fc.integer({ min: 0, max: 1000 })), ([xs, [, f], seed]) => {
      const x = f64(xs);
      const v = ag.randomNormal(x.shape, { seed, dtype: "float64" });
      const h = 1e-6;
      const fd = ag.div(ag.sub(f(ag.add(x, ag.mul(v, h))), f(ag.sub(x, ag.mul(v, h)))), 2 * h);
      expectClose(ag.jvp(f, x, v)[1], fd, { rtol: 1e-6, atol: 1e-7 });
    });
  });
});

describe("pytree arguments", () => {
  it("give gradients of the same structure, leaf by leaf", () => {
    property(pytree(), (spec) => {
      const tree = buildTree(spec, f64);
      const leaves = ag.treeLeaves(tree);
      // Σ_i (i+1)·Σ sin(leaf_i): the gradient of leaf i is (i+1)·cos(leaf_i)
      const f = (t: unknown) =>
        ag
          .treeLeaves(t)
          .reduce((acc: ag.Tensor, l, i) => ag.add(acc, ag.mul(ag.sum(ag.sin(l)), i + 1)), ag.zeros([], { dtype: "float64" }));
      const g = ag.grad(f)(tree);
      expect(ag.treeFlatten(g).def).toEqual(ag.treeFlatten(tree).def);
      ag.treeLeaves(g).forEach((gi, i) => expectClose(gi, ag.mul(ag.cos(leaves[i]!), i + 1)));
    });
  });

  it("differentiate w.r.t. the first argument only; the rest are constants", () => {
    const params = {
      w: ag.tensor(
        [
          [1, 2],
          [3, 4],
        ],
        { dtype: "float64" },
      ),
      b: [ag.tensor([0.5, -1], { dtype: "float64" })],
    };
    const x = ag.tensor([[0.3, -0.2]], { dtype: "float64" });
    const loss = (p: typeof params, input: ag.Tensor) => ag.sum(ag.tanh(ag.add(ag.matmul(input, p.w), p.b[0]!)));
    const g = ag.grad(loss)(params, x);
    expect(Object.keys(g).sort()).toEqual(["b", "w"]);
    const pre = ag.add(ag.matmul(x, params.w), params.b[0]!);
    const dpre = ag.sub(1, ag.mul(ag.tanh(pre), ag.tanh(pre)));
    expectClose(g.w, ag.matmul(ag.mT(x), dpre));
    expectClose(g.b[0]!, ag.reshape(dpre, [2]));
  });
});

describe("higher-order derivatives", () => {
  /** n-th derivative of an elementwise f, elementwise (grad of Σ of the previous one). */
  const nth = (f: Fn, n: number): Fn => (n === 0 ? f : (x) => ag.grad((y: ag.Tensor) => ag.sum(nth(f, n - 1)(y)))(x));

  const KNOWN: readonly (readonly [string, Fn, number, Fn])[] = [
    ["x³ ''", (x) => ag.mul(ag.mul(x, x), x), 2, (x) => ag.mul(x, 6)],
    ["sin '''", ag.sin, 3, (x) => ag.neg(ag.cos(x))],
    ["tanh ''", ag.tanh, 2, (x) => ag.mul(ag.mul(ag.tanh(x), -2), ag.sub(1, ag.mul(ag.tanh(x), ag.tanh(x))))],
    [
      "sigmoid ''",
      ag.sigmoid,
      2,
      (x) => {
        const s = ag.sigmoid(x);
        return ag.mul(ag.mul(s, ag.sub(1, s)), ag.sub(1, ag.mul(s, 2)));
      },
    ],
    ["softplus ''", ag.softplus, 2, (x) => ag.mul(ag.sigmoid(x), ag.sigmoid(ag.neg(x)))],
    ["log ''", ag.log, 2, (x) => ag.neg(ag.div(1, ag.mul(x, x)))],
    ["exp ''''", ag.exp, 4, ag.exp],
  ];

  for (const [name, f, n, expected] of KNOWN) {
    it(`${name} matches its closed form`, () => {
      property(tensorArb(0.1, 3), (xs) => {
        const x = f64(xs);
        expectClose(nth(f, n)(x), expected(x), { rtol: 1e-10, atol: 1e-12 });
      });
    });
  }

  it("softplus has σ'(0) = 1/4 as its second derivative at 0 exactly", () => {
    expect(nth(ag.softplus, 2)(ag.zeros([1], { dtype: "float64" })).item()).toBe(0.25);
  });

  it("Hessian-vector products of ½ xᵀAx are ½(A + Aᵀ)v", () => {
    const arb = fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 1000 }));
    property(arb, ([n, seed]) => {
      const A = ag.randomNormal([n, n], { seed, dtype: "float64" });
      const x = ag.randomNormal([n], { seed: seed + 1, dtype: "float64" });
      const v = ag.randomNormal([n], { seed: seed + 2, dtype: "float64" });
      const quad = (y: ag.Tensor) => ag.mul(ag.matmul(y, ag.matmul(A, y)), 0.5);
      const hvp = ag.grad((y: ag.Tensor) => ag.sum(ag.mul(ag.grad(quad)(y), v)))(x);
      expectClose(hvp, ag.mul(ag.matmul(ag.add(A, ag.mT(A)), v), 0.5), { rtol: 1e-12, atol: 1e-13 });
    });
  });
});

describe("errors name what went wrong", () => {
  const x23 = () => ag.zeros([2, 3], { dtype: "float64" });

  it("grad of a non-scalar output", () => {
    expect(() => ag.grad((y: ag.Tensor) => ag.exp(y))(x23())).toThrow(/must return a scalar, got shape \[2, 3\]/);
    expect(() => ag.grad(() => 3 as unknown as ag.Tensor)(x23())).toThrow(/must return a scalar tensor, got number/);
    expect(() => ag.grad((y: ag.Tensor) => ag.greater(ag.sum(y), 0))(x23())).toThrow(ag.DTypeError);
  });

  it("grad with respect to an int32 tensor", () => {
    const i = ag.tensor([1, 2], { dtype: "int32" });
    expect(() => ag.grad((y: ag.Tensor) => ag.sum(ag.cast(y, "float32")))(i)).toThrow(ag.DTypeError);
    expect(() => ag.grad((y: ag.Tensor) => ag.sum(ag.cast(y, "float32")))(i)).toThrow(
      /cannot differentiate with respect to int32 input \(leaf 0, shape \[2\]\)/,
    );
  });

  it("a shape mismatch names the op and both shapes", () => {
    expect(() => ag.add(x23(), ag.zeros([4], { dtype: "float64" }))).toThrow(ag.ShapeError);
    expect(() => ag.add(x23(), ag.zeros([4], { dtype: "float64" }))).toThrow(/add: shapes \[2, 3\] and \[4\] cannot be broadcast/);
    expect(() => ag.matmul(x23(), x23())).toThrow(/matmul: inner dimensions differ: \[2, 3\] @ \[2, 3\]/);
    expect(() => ag.concat([x23(), ag.zeros([2, 2], { dtype: "float64" })], 0)).toThrow(
      /concat: shapes \[2, 3\], \[2, 2\] differ outside axis 0/,
    );
    expect(() => ag.reshape(x23(), [4, 2])).toThrow(/reshape: cannot reshape \[2, 3\] \(6 elements\) to \[4, 2\]/);
    // inside a gradient too
    expect(() => ag.grad((y: ag.Tensor) => ag.sum(ag.mul(y, ag.zeros([5], { dtype: "float64" }))))(x23())).toThrow(
      /mul: shapes \[2, 3\] and \[5\]/,
    );
  });

  it("mixed dtypes promote as JAX does; an unknown dtype names itself", () => {
    const a = ag.zeros([2], { dtype: "float32" }),
      b = ag.zeros([2], { dtype: "float64" });
    expect(ag.add(a, b).dtype).toBe("float64");
    expect(ag.matmul(ag.zeros([2, 2]), ag.zeros([2, 2], { dtype: "float64" })).dtype).toBe("float64");
    expect(ag.concat([a, b]).dtype).toBe("float64");
    expect(() => ag.tensor([1], { dtype: "float8" as ag.DType })).toThrow(/float8/);
  });

  it("use of a disposed tensor", () => {
    const t = ag.ones([3]);
    t.dispose();
    expect(() => ag.exp(t)).toThrow(/tensor \[3\] float32 was disposed/);
    const escaped: ag.Tensor[] = [];
    ag.scope(() => {
      escaped.push(ag.ones([2]));
      return null;
    });
    expect(() => ag.sum(escaped[0]!)).toThrow(ag.AnchorError);
    expect(() => escaped[0]!.dataSync()).toThrow(/disposed/);
  });

  it("an out-of-range gather index names the index and the axis size", () => {
    const x = ag.ones([3, 4]);
    expect(() => ag.gather(x, ag.tensor([0, 5], { dtype: "int32" }), 1)).toThrow(
      /gather: index 5 at position 1 is out of range for an axis of size 4/,
    );
    expect(() => ag.gather(x, ag.tensor([-1], { dtype: "int32" }), 0)).toThrow(/gather: index -1/);
    expect(() => ag.gather(x, ag.tensor([0.5]), 0)).toThrow(/gather: indices must be int32, got float32/);
  });

  it("no op error is a bare TypeError", () => {
    const bad: (() => unknown)[] = [
      () => ag.add(ag.zeros([2]), "a" as unknown as number),
      () => ag.cast(ag.zeros([1]), "x" as ag.DType),
      () => ag.reshape(ag.zeros([2, 3]), [-1, -1]),
      () => ag.slice(ag.zeros([2, 3]), ["a" as unknown as number]),
      () => ag.sum(ag.zeros([]), 0),
      () => ag.treeMap((a) => a, [ag.zeros([1])], []),
      () => ag.stack([ag.zeros([2]), ag.zeros([3])]),
      () => ag.tensor([1, "x"] as unknown as number[]),
    ];
    for (const f of bad) {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err, String(f)).toBeInstanceOf(ag.AnchorError);
    }
  });
});

describe("checkGrads over pytree arguments", () => {
  const params = () => ({
    w: ag.randomNormal([3, 2], { seed: 5, dtype: "float64" }),
    b: [ag.randomNormal([2], { seed: 6, dtype: "float64" })],
  });
  const x = ag.randomNormal([4, 3], { seed: 7, dtype: "float64" });
  const loss = (p: { w: ag.Tensor; b: ag.Tensor[] }, x: ag.Tensor) => ag.sum(ag.tanh(ag.add(ag.matmul(x, p.w), p.b[0]!)));

  it("checks every leaf of a pytree argument", () => {
    ag.checkGrads(loss, [params(), x], { order: 2 });
  });

  it("names the leaf whose gradient is wrong", () => {
    const wrongBias = ag.customVjp(
      (z: ag.Tensor) => ag.mul(z, 1),
      (g) => [ag.mul(g, 2)],
    );
    const bad = (p: { w: ag.Tensor; b: ag.Tensor[] }, x: ag.Tensor) => ag.sum(ag.tanh(ag.add(ag.matmul(x, p.w), wrongBias(p.b[0]!))));
    expect(() => ag.checkGrads(bad, [params(), x])).toThrow(/argument 0, leaf 0 \(shape \[2\]\)/);
  });
});

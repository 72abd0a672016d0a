/**
 * The elementwise ops: public functions over the pointwise primitives
 * (src/prims/pointwise.ts) with NumPy broadcasting and JAX's dtype
 * promotion, and their VJP rules.
 */
import { bind } from "../ir/trace.js";
import { binaryPrims, unaryPrims, wherePrim, type Abstract, type BinaryName, type UnaryName } from "../prims/index.js";
import { promoteTypes, promoteWeak, type DType } from "../tensor/dtype.js";
import { DTypeError } from "../tensor/errors.js";
import { broadcastedAxes, sameShape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { cast } from "./cast.js";
import { full } from "./create.js";
import { sum } from "./reduce.js";
import { reshape } from "./shape.js";
import { defineVjp } from "./vjp.js";

export type TensorLike = Tensor | number;

// --- unary ----------------------------------------------------------------

const unary =
  (name: UnaryName) =>
  (x: Tensor): Tensor =>
    bind(unaryPrims[name], [x], {});
export const neg = unary("neg");
export const exp = unary("exp");
export const log = unary("log");
export const log1p = unary("log1p");
export const sqrt = unary("sqrt");
export const rsqrt = unary("rsqrt");
export const abs = unary("abs");
export const sign = unary("sign");
export const tanh = unary("tanh");
export const sigmoid = unary("sigmoid");
export const erfOp = unary("erf");
export const sin = unary("sin");
export const cos = unary("cos");
export const floor = unary("floor");

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
for (const [name, rule] of Object.entries(UNARY_VJP)) {
  defineVjp(unaryPrims[name as UnaryName], (g, [x], y) => [rule(g, x!, y)]);
}

// --- binary ---------------------------------------------------------------

/**
 * Two operands as tensors of one dtype, promoted as JAX does: tensors by the
 * lattice of promoteTypes, a JS number weakly (promoteWeak), on the device
 * of the tensor operand.
 */
export function lift(a: TensorLike, b: TensorLike, op: string): [Tensor, Tensor] {
  if (a instanceof Tensor && b instanceof Tensor) {
    const dtype = promoteTypes(a.dtype, b.dtype);
    return [cast(a, dtype), cast(b, dtype)];
  }
  if (a instanceof Tensor) return liftScalar(a, b, op);
  if (b instanceof Tensor) return liftScalar(b, a, op).reverse() as [Tensor, Tensor];
  if (typeof a !== "number" || typeof b !== "number")
    throw new DTypeError(`${op}: expected tensors or numbers, got ${typeof a} and ${typeof b}`);
  return [full([], a), full([], b)];
}

function liftScalar(t: Tensor, v: TensorLike, op: string): [Tensor, Tensor] {
  if (typeof v !== "number") throw new DTypeError(`${op}: expected a tensor or a number, got ${typeof v}`);
  const dtype = promoteWeak(t.dtype, v);
  return [cast(t, dtype), scalarLike(v, t, dtype)];
}

/** A scalar constant of `like`'s dtype (or `dtype`) on `like`'s device. */
export function scalarLike(v: number, like: Tensor, dtype: DType = like.dtype): Tensor {
  if (typeof v !== "number") throw new DTypeError(`expected a tensor or a number, got ${typeof v}`);
  return full([], v, { dtype, device: like.device });
}

const binary =
  (name: BinaryName) =>
  (a: TensorLike, b: TensorLike): Tensor =>
    bind(binaryPrims[name], lift(a, b, name), {});
export const add = binary("add");
export const sub = binary("sub");
export const mul = binary("mul");
export const div = binary("div");
export const pow = binary("pow");
export const maximum = binary("maximum");
export const minimum = binary("minimum");
export const equal = binary("equal");
export const notEqual = binary("notEqual");
export const greater = binary("greater");
export const greaterEqual = binary("greaterEqual");
export const less = binary("less");
export const lessEqual = binary("lessEqual");

/** Sum a cotangent over the axes along which `like` was broadcast. */
export function unbroadcast(g: Tensor, like: Abstract): Tensor {
  if (sameShape(g.shape, like.shape)) return g;
  const axes = broadcastedAxes(like.shape, g.shape);
  return reshape(sum(g, axes, true), like.shape);
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
  defineVjp(binaryPrims[name as BinaryName], (g, [a, b], out, _p, wanted) => [
    wanted[0] ? unbroadcast(da(g, a!, b!, out), a!) : null,
    wanted[1] ? unbroadcast(db(g, a!, b!, out), b!) : null,
  ]);
}

// --- where ----------------------------------------------------------------

/** Elementwise choice: cond ? a : b, with broadcasting. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = lift(a, b, "where");
  return bind(wherePrim, [cond, x, y], {});
}

defineVjp(wherePrim, (g, [c, a, b], _out, _p, wanted) => {
  const zero = scalarLike(0, g);
  return [null, wanted[1] ? unbroadcast(where(c!, g, zero), a!) : null, wanted[2] ? unbroadcast(where(c!, zero, g), b!) : null];
});

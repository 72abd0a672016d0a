/**
 * Elementwise primitives as table rows. Each row is the whole definition of
 * a primitive: its scalar function for the CPU, its WGSL expression for
 * WebGPU, and its VJP. Backends build their kernels from these rows.
 */
import { definePrimitive, type Abstract, type Primitive } from "../autograd/primitive.js";
import { bind } from "../autograd/trace.js";
import { isFloat, type DType } from "../tensor/dtype.js";
import { DTypeError } from "../tensor/errors.js";
import { broadcastShapes, broadcastedAxes, sameShape } from "../tensor/shape.js";
import { full } from "../tensor/create.js";
import { Tensor } from "../tensor/tensor.js";
import { erf } from "./erf.js";
import { reshape } from "./shape.js";
import { sum } from "./reduce.js";
import { cast } from "./cast.js";

export type TensorLike = Tensor | number;

// --- unary ----------------------------------------------------------------

export interface UnaryRow {
  readonly name: string;
  readonly js: (x: number) => number;
  /** WGSL expression in `x` (f32). */
  readonly wgsl: string;
  /** Also defined on int32 (neg, abs, sign). */
  readonly ints?: boolean;
  /** Cotangent of x from g, x and the output y; absent = not differentiable. */
  readonly vjp?: (g: Tensor, x: Tensor, y: Tensor) => Tensor;
}

const SQRT_PI = Math.sqrt(Math.PI);

export const UNARY: readonly UnaryRow[] = [
  { name: "neg", js: (x) => -x, wgsl: "-x", ints: true, vjp: (g) => neg(g) },
  { name: "exp", js: Math.exp, wgsl: "exp(x)", vjp: (g, _x, y) => mul(g, y) },
  { name: "log", js: Math.log, wgsl: "log(x)", vjp: (g, x) => div(g, x) },
  { name: "log1p", js: Math.log1p, wgsl: "select(log(1.0 + x), x - x * x * 0.5, abs(x) < 1e-4)", vjp: (g, x) => div(g, add(x, 1)) },
  { name: "sqrt", js: Math.sqrt, wgsl: "sqrt(x)", vjp: (g, _x, y) => div(g, mul(y, 2)) },
  { name: "rsqrt", js: (x) => 1 / Math.sqrt(x), wgsl: "inverseSqrt(x)", vjp: (g, x, y) => mul(g, mul(div(y, x), -0.5)) },
  { name: "abs", js: Math.abs, wgsl: "abs(x)", ints: true, vjp: (g, x) => mul(g, sign(x)) },
  { name: "sign", js: Math.sign, wgsl: "sign(x)", ints: true },
  { name: "tanh", js: Math.tanh, wgsl: "tanh(clamp(x, -15.0, 15.0))", vjp: (g, _x, y) => mul(g, sub(1, mul(y, y))) },
  {
    name: "sigmoid",
    js: (x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x))),
    wgsl: "select(exp(x) / (1.0 + exp(x)), 1.0 / (1.0 + exp(-x)), x >= 0.0)",
    vjp: (g, _x, y) => mul(g, mul(y, sub(1, y))),
  },
  { name: "erf", js: erf, wgsl: "erf_f32(x)", vjp: (g, x) => mul(g, mul(exp(neg(mul(x, x))), 2 / SQRT_PI)) },
  { name: "sin", js: Math.sin, wgsl: "sin(x)", vjp: (g, x) => mul(g, cos(x)) },
  { name: "cos", js: Math.cos, wgsl: "cos(x)", vjp: (g, x) => neg(mul(g, sin(x))) },
  { name: "floor", js: Math.floor, wgsl: "floor(x)" },
];

const unaryPrims = new Map<string, Primitive>();
for (const row of UNARY) {
  unaryPrims.set(
    row.name,
    definePrimitive({
      name: row.name,
      infer([x]: readonly Abstract[]) {
        if (!isFloat(x!.dtype) && !(row.ints && x!.dtype === "int32")) {
          throw new DTypeError(`${row.name}: expected a float tensor, got ${x!.dtype}; cast it first`);
        }
        return { shape: x!.shape.slice(), dtype: x!.dtype };
      },
      ...(row.vjp && { vjp: (g: Tensor, [x]: readonly Tensor[], y: Tensor) => [row.vjp!(g, x!, y)] }),
    }),
  );
}

const unary =
  (name: string) =>
  (x: Tensor): Tensor =>
    bind(unaryPrims.get(name)!, [x], {});
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

// --- binary ---------------------------------------------------------------

export type BinaryRule = (g: Tensor, a: Tensor, b: Tensor, out: Tensor) => Tensor;

export interface BinaryRow {
  readonly name: string;
  readonly js: (a: number, b: number) => number;
  /** WGSL expression in `a` and `b`. */
  readonly wgsl: string;
  /** Comparisons return bool and carry no gradient. */
  readonly compare?: boolean;
  /** Cotangent rules for a and b, at the broadcast output shape; each runs only when its input needs one. */
  readonly vjp?: readonly [BinaryRule, BinaryRule];
}

const half = (g: Tensor, a: Tensor, b: Tensor, pick: (a: Tensor, b: Tensor) => Tensor): Tensor =>
  // ties split the gradient equally, as PyTorch does
  mul(g, add(cast(pick(a, b), g.dtype), mul(cast(equal(a, b), g.dtype), 0.5)));

export const BINARY: readonly BinaryRow[] = [
  { name: "add", js: (a, b) => a + b, wgsl: "a + b", vjp: [(g) => g, (g) => g] },
  { name: "sub", js: (a, b) => a - b, wgsl: "a - b", vjp: [(g) => g, (g) => neg(g)] },
  { name: "mul", js: (a, b) => a * b, wgsl: "a * b", vjp: [(g, _a, b) => mul(g, b), (g, a) => mul(g, a)] },
  { name: "div", js: (a, b) => a / b, wgsl: "a / b", vjp: [(g, _a, b) => div(g, b), (g, a, b) => neg(div(mul(g, a), mul(b, b)))] },
  {
    name: "pow",
    js: Math.pow,
    wgsl: "pow_signed(a, b)",
    vjp: [
      (g, a, b) => mul(g, mul(b, pow(a, sub(b, 1)))),
      // d/db a^b = a^b log a, taken as 0 where a <= 0 (as PyTorch does at a = 0)
      (g, a, _b, out) => mul(g, where(greater(a, 0), mul(out, log(where(greater(a, 0), a, 1))), 0)),
    ],
  },
  {
    name: "maximum",
    js: (a, b) => (a !== a || b !== b ? NaN : Math.max(a, b)),
    wgsl: "max(a, b)",
    vjp: [(g, a, b) => half(g, a, b, greater), (g, a, b) => half(g, b, a, greater)],
  },
  {
    name: "minimum",
    js: (a, b) => (a !== a || b !== b ? NaN : Math.min(a, b)),
    wgsl: "min(a, b)",
    vjp: [(g, a, b) => half(g, a, b, less), (g, a, b) => half(g, b, a, less)],
  },
  { name: "equal", js: (a, b) => +(a === b), wgsl: "a == b", compare: true },
  { name: "notEqual", js: (a, b) => +(a !== b), wgsl: "a != b", compare: true },
  { name: "greater", js: (a, b) => +(a > b), wgsl: "a > b", compare: true },
  { name: "greaterEqual", js: (a, b) => +(a >= b), wgsl: "a >= b", compare: true },
  { name: "less", js: (a, b) => +(a < b), wgsl: "a < b", compare: true },
  { name: "lessEqual", js: (a, b) => +(a <= b), wgsl: "a <= b", compare: true },
];

const binaryPrims = new Map<string, Primitive>();
for (const row of BINARY) {
  binaryPrims.set(
    row.name,
    definePrimitive({
      name: row.name,
      infer([a, b]: readonly Abstract[]) {
        if (a!.dtype !== b!.dtype) throw new DTypeError(`${row.name}: dtypes differ: ${a!.dtype} and ${b!.dtype}; cast one first`);
        if (!row.compare && a!.dtype === "bool")
          throw new DTypeError(`${row.name}: bool tensors are not numbers; cast to a numeric dtype first`);
        if (row.name === "div" || row.name === "pow") {
          if (!isFloat(a!.dtype)) throw new DTypeError(`${row.name}: expected float tensors, got ${a!.dtype}; cast first`);
        }
        return { shape: broadcastShapes(row.name, a!.shape, b!.shape), dtype: row.compare ? "bool" : a!.dtype };
      },
      ...(row.vjp && {
        vjp: (g: Tensor, [a, b]: readonly Tensor[], out: Tensor, _p: unknown, wanted: readonly boolean[]) => {
          const [da, db] = row.vjp!;
          return [wanted[0] ? unbroadcast(da(g, a!, b!, out), a!) : null, wanted[1] ? unbroadcast(db(g, a!, b!, out), b!) : null];
        },
      }),
    }),
  );
}

/** Sum a cotangent over the axes along which `like` was broadcast. */
export function unbroadcast(g: Tensor, like: Abstract): Tensor {
  if (sameShape(g.shape, like.shape)) return g;
  const axes = broadcastedAxes(like.shape, g.shape);
  return reshape(sum(g, axes, true), like.shape);
}

/** A JS number becomes a scalar of the other operand's dtype and device. */
export function lift(a: TensorLike, b: TensorLike, op: string): [Tensor, Tensor] {
  if (a instanceof Tensor && b instanceof Tensor) return [a, b];
  if (a instanceof Tensor) return [a, scalarLike(b as number, a)];
  if (b instanceof Tensor) return [scalarLike(a, b), b];
  if (typeof a !== "number" || typeof b !== "number")
    throw new DTypeError(`${op}: expected tensors or numbers, got ${typeof a} and ${typeof b}`);
  return [full([], a), full([], b)];
}

export function scalarLike(v: number, like: Tensor): Tensor {
  if (typeof v !== "number") throw new DTypeError(`expected a tensor or a number, got ${typeof v}`);
  const c = like.concrete();
  return full([], v, { dtype: c.dtype, device: c.device });
}

const binary =
  (name: string) =>
  (a: TensorLike, b: TensorLike): Tensor =>
    bind(binaryPrims.get(name)!, lift(a, b, name), {});
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

// --- where ----------------------------------------------------------------

export const wherePrim = definePrimitive<Record<string, never>>({
  name: "where",
  infer([c, a, b]) {
    if (c!.dtype !== "bool") throw new DTypeError(`where: condition must be bool, got ${c!.dtype}`);
    if (a!.dtype !== b!.dtype) throw new DTypeError(`where: branch dtypes differ: ${a!.dtype} and ${b!.dtype}`);
    return { shape: broadcastShapes("where", c!.shape, a!.shape, b!.shape), dtype: a!.dtype };
  },
  vjp(g, [c, a, b], _out, _p, wanted) {
    const zero = scalarLike(0, g);
    return [null, wanted[1] ? unbroadcast(where(c!, g, zero), a!) : null, wanted[2] ? unbroadcast(where(c!, zero, g), b!) : null];
  },
});

/** Elementwise choice: cond ? a : b, with broadcasting. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = lift(a, b, "where");
  return bind(wherePrim, [cond, x, y], {});
}

export type { DType };

/**
 * The elementwise ops: public functions over the pointwise primitives
 * (src/prims/pointwise.ts) with NumPy broadcasting and JAX's dtype
 * promotion. Their VJP rules are in ./derivatives.ts.
 */
import { bind } from "../ir/trace.js";
import { binaryPrims, unaryPrims, wherePrim, type BinaryName, type UnaryName } from "../prims/index.js";
import { promoteTypes, promoteWeak, type DType } from "../tensor/dtype.js";
import { DTypeError } from "../tensor/errors.js";
import { keep } from "../tensor/scope.js";
import { Tensor } from "../tensor/tensor.js";
import { cast } from "./cast.js";
import { backendFor, full } from "./create.js";

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

/** Cached scalar constants per backend object (a reloaded webgpu device gets fresh ones), by dtype and value. */
const scalars = new WeakMap<object, Map<string, Tensor>>();
/** Enough for every constant a model and its schedule use; past it, constants are made per op (and scoped). */
const MAX_CACHED_SCALARS = 10_000;

/**
 * A scalar constant of `like`'s dtype (or `dtype`) on `like`'s device (on
 * the trace's home device while `like` is being traced: it becomes a graph
 * constant). Constants are cached per (backend, dtype, value) and live for
 * the process, so the implicit operands of `mul(x, 0.5)` leak nothing
 * outside a scope().
 */
export function scalarLike(v: number, like: Tensor, dtype: DType = like.dtype): Tensor {
  if (typeof v !== "number") throw new DTypeError(`expected a tensor or a number, got ${typeof v}`);
  const backend = backendFor(like.device);
  let cache = scalars.get(backend);
  if (!cache) scalars.set(backend, (cache = new Map()));
  const key = `${dtype}|${Object.is(v, -0) ? "-0" : v}`;
  let t = cache.get(key);
  if (t && !t.isDisposed) return t;
  t = full([], v, { dtype, device: backend.name });
  if (cache.size < MAX_CACHED_SCALARS) cache.set(key, keep(t));
  return t;
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

// --- where ----------------------------------------------------------------

/** Elementwise choice: cond ? a : b, with broadcasting. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = lift(a, b, "where");
  return bind(wherePrim, [cond, x, y], {});
}

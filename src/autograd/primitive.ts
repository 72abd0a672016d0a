/**
 * The primitive registry. A primitive is the unit that backends implement and
 * autodiff differentiates: a shape/dtype rule, and a VJP rule written with
 * other ops (so the backward pass can itself be traced: grad(grad(f)) works).
 * Everything else in the library is a composite of primitives.
 */
import type { DType } from "../tensor/dtype.js";
import type { Shape } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";

export interface Abstract {
  readonly shape: Shape;
  readonly dtype: DType;
}

export interface Primitive<P = any> {
  readonly name: string;
  /** Output shape and dtype; throws ShapeError/DTypeError naming the op. Required unless `impl` is given. */
  infer?(inputs: readonly Abstract[], params: P): { shape: number[]; dtype: DType };
  /**
   * Cotangent of each input given the output cotangent `g` (null: no
   * gradient flows to that input). `wanted[i]` is false for inputs that are
   * constants of the traced function; rules may skip those (return null).
   * Absent: the output is piecewise constant (comparisons, argmax) and is
   * never traced.
   */
  vjp?(g: Tensor, inputs: readonly Tensor[], out: Tensor, params: P, wanted: readonly boolean[]): (Tensor | null)[];
  /**
   * Evaluate with other ops instead of a backend kernel (custom_vjp and
   * fused composites). Backends need no kernel for such primitives.
   */
  impl?(inputs: readonly Tensor[], params: P): Tensor;
}

const registry = new Map<string, Primitive>();

export function definePrimitive<P>(p: Primitive<P>): Primitive<P> {
  if (registry.has(p.name)) throw new Error(`primitive ${p.name} is defined twice`);
  registry.set(p.name, p);
  return p;
}

/** Every registered primitive that a backend must implement as a kernel. */
export function kernelPrimitives(): string[] {
  return [...registry.values()]
    .filter((p) => !p.impl)
    .map((p) => p.name)
    .sort();
}

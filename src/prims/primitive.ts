/**
 * The primitive registry. A primitive is the unit that backends implement,
 * the IR records and autodiff differentiates. Here it is plain data: a name,
 * a typed parameter record and a shape/dtype rule. Its kernels live in the
 * backends and its VJP rule with the public ops (src/ops/), so that the
 * layers below the ops never need to know how an op is differentiated.
 */
import type { DType } from "../tensor/dtype.js";
import type { Shape } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import type { KernelPrim, ParamsOf } from "./params.js";

/** What the IR knows of a value: shape and dtype, no data. */
export interface Abstract {
  readonly shape: Shape;
  readonly dtype: DType;
}

export interface Primitive<P = any> {
  readonly name: string;
  /** Output shape and dtype; throws ShapeError/DTypeError naming the op. Required unless `impl` is given. */
  infer?(inputs: readonly Abstract[], params: P): { shape: number[]; dtype: DType };
  /**
   * The output is piecewise constant in the inputs (comparisons, argmax,
   * sign, floor): no gradient flows through it, so tapes do not record it.
   */
  readonly flat?: boolean;
  /**
   * Evaluate with other ops instead of a kernel (customVjp). Such primitives
   * are made above the ops and are never handed to a backend.
   */
  impl?(inputs: readonly Tensor[], params: P): Tensor;
}

/** A primitive that every backend implements as a kernel. */
export interface KernelPrimitive<N extends KernelPrim> extends Primitive<ParamsOf<N>> {
  readonly name: N;
  infer(inputs: readonly Abstract[], params: ParamsOf<N>): { shape: number[]; dtype: DType };
}

const registry = new Map<string, KernelPrimitive<KernelPrim>>();

export function definePrimitive<N extends KernelPrim>(p: KernelPrimitive<N>): KernelPrimitive<N> {
  if (registry.has(p.name)) throw new Error(`primitive ${p.name} is defined twice`);
  registry.set(p.name, p as unknown as KernelPrimitive<KernelPrim>);
  return p;
}

/** Every registered primitive that a backend must implement as a kernel. */
export function kernelPrimitives(): KernelPrim[] {
  return [...registry.keys()].sort() as KernelPrim[];
}

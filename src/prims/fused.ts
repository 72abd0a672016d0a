/**
 * A fused pointwise program: a chain of elementwise primitives that the jit
 * (src/ir/jit.ts) hands to a backend as one kernel. Values are numbered:
 * 0..inputs-1 are the kernel's inputs, inputs + k is step k's result. Every
 * input has the program's shape or a single element; only `outputs` are
 * written to memory, the rest stay in registers.
 */
import type { DType } from "../tensor/dtype.js";
import type { Shape } from "../tensor/shape.js";
import type { BinaryName, UnaryName } from "./pointwise.js";

export type PointwisePrim = UnaryName | BinaryName | "where" | "cast";

export interface PointwiseStep {
  readonly prim: PointwisePrim;
  /** Value numbers of the operands. */
  readonly args: readonly number[];
  /** The result's dtype (for cast, the target). */
  readonly dtype: DType;
}

export interface PointwiseProgram {
  readonly shape: Shape;
  readonly inputs: readonly { readonly dtype: DType; readonly scalar: boolean }[];
  readonly steps: readonly PointwiseStep[];
  /** Value numbers written out, in order. */
  readonly outputs: readonly number[];
}

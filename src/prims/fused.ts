/**
 * A fused pointwise program: a chain of elementwise primitives that the jit
 * (src/ir/jit.ts) hands to a backend as one kernel. Values are numbered:
 * 0..inputs-1 are the kernel's inputs, inputs + k is step k's result. Every
 * input has the program's shape, a single element (`scalar`), or a
 * broadcast of one contiguous block of the program's axes: output element i
 * reads input element floor(i / repeat) mod period, which covers a bias or
 * a per-feature weight (a suffix: repeat 1) and a per-row statistic
 * ([rows, 1]: repeat = cols). Only `outputs` are written to memory, the rest
 * stay in registers.
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

export interface PointwiseInput {
  readonly dtype: DType;
  /** One element, read once. */
  readonly scalar: boolean;
  /** Wraps every `period` (repeated) elements (0: never). */
  readonly period: number;
  /** Each element serves this many consecutive outputs (1: one each). */
  readonly repeat: number;
}

export interface PointwiseProgram {
  readonly shape: Shape;
  readonly inputs: readonly PointwiseInput[];
  readonly steps: readonly PointwiseStep[];
  /** Value numbers written out, in order. */
  readonly outputs: readonly number[];
}

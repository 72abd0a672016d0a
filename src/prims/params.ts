/**
 * Every kernel primitive's parameter record, by name. Backends type their
 * kernel tables with it (`{ [P in KernelPrim]: Kernel<ParamsOf<P>> }`), so a
 * kernel that reads a parameter its primitive does not have, or a table that
 * lacks a primitive, fails to compile.
 */
import type { DType } from "../tensor/dtype.js";
import type { BinaryName, UnaryName } from "./pointwise.js";

/** Primitives without parameters. */
export type NoParams = Record<string, never>;

export interface ReduceParams {
  /** Sorted, non-negative axes to reduce. */
  readonly axes: readonly number[];
  readonly keepdims: boolean;
}

export interface ArgmaxParams {
  readonly axis: number;
  readonly keepdims: boolean;
}

export interface MatmulParams {
  /** Use a's last two axes swapped: a is [..., K, M]. */
  readonly transposeA: boolean;
  /** Use b's last two axes swapped: b is [..., N, K]. */
  readonly transposeB: boolean;
}

export interface NormParams {
  readonly eps: number;
  /** Whether inputs[1] is a weight [n]. */
  readonly weight: boolean;
  /** Whether the last input is a bias [n] (layerNorm only). */
  readonly bias: boolean;
}

export interface NormGradParams {
  readonly eps: number;
  /** layerNorm (subtract the row's mean) rather than rmsNorm. */
  readonly center: boolean;
}

type RowName = "logsumexp" | "softmax" | "softmaxGrad" | "logSoftmax";

export interface PrimParams extends Record<UnaryName | BinaryName | RowName | "where", NoParams> {
  cast: { readonly dtype: DType };
  sum: ReduceParams;
  max: ReduceParams;
  argmax: ArgmaxParams;
  reshape: { readonly shape: readonly number[] };
  transpose: { readonly perm: readonly number[] };
  broadcastTo: { readonly shape: readonly number[] };
  slice: { readonly starts: readonly number[]; readonly ends: readonly number[] };
  pad: { readonly widths: readonly (readonly [number, number])[] };
  concat: { readonly axis: number };
  gather: { readonly axis: number };
  scatterAdd: { readonly axis: number; readonly shape: readonly number[] };
  matmul: MatmulParams;
  layerNorm: NormParams;
  rmsNorm: NormParams;
  normGrad: NormGradParams;
}

/** The name of a primitive that every backend implements as a kernel. */
export type KernelPrim = keyof PrimParams;
export type ParamsOf<P extends KernelPrim> = PrimParams[P];

/**
 * Affine maps y = x·K + b with the kernel stored [in, out] (flax's layout,
 * the transpose of PyTorch's weight), so neither the forward nor the
 * backward pass copies a transposed weight.
 */
import { add } from "../ops/elementwise.js";
import { matmul } from "../ops/linalg.js";
import { reshape } from "../ops/shape.js";
import type { DType } from "../tensor/dtype.js";
import { ShapeError } from "../tensor/errors.js";
import { fmt } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import { constantInit, normalInit, subSeed } from "./init.js";

export interface LinearParams {
  /** [in, out] */
  readonly kernel: Tensor;
  /** [out] */
  readonly bias?: Tensor;
}

export interface LinearInit {
  bias?: boolean;
  /** Standard deviation of the weight draws. Default 0.02 (as InternVL and Qwen initialise). */
  std?: number;
  dtype?: DType;
}

export function initLinear(seed: number, inDim: number, outDim: number, opts: LinearInit = {}): LinearParams {
  const { bias = true, std = 0.02, dtype = "float32" } = opts;
  const kernel = normalInit(subSeed(seed, "kernel"), [inDim, outDim], std, dtype);
  return bias ? { kernel, bias: constantInit([outDim], 0, dtype) } : { kernel };
}

/** y = x · K + b over the last axis of x (any leading shape). */
export function linear(p: LinearParams, x: Tensor): Tensor {
  const [inDim, out] = p.kernel.shape as [number, number];
  if (p.kernel.ndim !== 2 || x.shape[x.ndim - 1] !== inDim) {
    throw new ShapeError(`linear: input ${fmt(x.shape)} does not match kernel ${fmt(p.kernel.shape)} ([in, out])`);
  }
  // one 2-D GEMM instead of a batch of small ones (and no batched weight gradient)
  const lead = x.shape.slice(0, -1);
  let y = matmul(reshape(x, [-1, inDim]), p.kernel);
  if (p.bias) y = add(y, p.bias);
  return reshape(y, [...lead, out]);
}

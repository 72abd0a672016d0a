/** Affine maps with PyTorch's weight layout: weight [out, in], bias [out]. */
import { add } from "../ops/elementwise.js";
import { matmul } from "../ops/linalg.js";
import { mT, reshape } from "../ops/shape.js";
import type { DType } from "../tensor/dtype.js";
import { ShapeError } from "../tensor/errors.js";
import { fmt } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import { constantInit, normalInit, subSeed } from "./init.js";

export interface LinearParams {
  readonly weight: Tensor;
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
  const weight = normalInit(subSeed(seed, "weight"), [outDim, inDim], std, dtype);
  return bias ? { weight, bias: constantInit([outDim], 0, dtype) } : { weight };
}

/** y = x · Wᵀ + b over the last axis of x (any leading shape). */
export function linear(p: LinearParams, x: Tensor): Tensor {
  const [out, inDim] = p.weight.shape as [number, number];
  if (p.weight.ndim !== 2 || x.shape[x.ndim - 1] !== inDim) {
    throw new ShapeError(`linear: input ${fmt(x.shape)} does not match weight ${fmt(p.weight.shape)} ([out, in])`);
  }
  // one 2-D GEMM instead of a batch of small ones (and no batched weight gradient)
  const lead = x.shape.slice(0, -1);
  let y = matmul(reshape(x, [-1, inDim]), mT(p.weight));
  if (p.bias) y = add(y, p.bias);
  return reshape(y, [...lead, out]);
}

/** LayerNorm and RMSNorm layers over the last axis. */
import { layerNorm as layerNormOp, rmsNorm as rmsNormOp } from "../ops/rows.js";
import type { DType } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";
import { constantInit } from "./init.js";

export interface LayerNormParams {
  readonly weight: Tensor;
  readonly bias: Tensor;
}

export interface RMSNormParams {
  readonly weight: Tensor;
}

export const initLayerNorm = (dim: number, dtype: DType = "float32"): LayerNormParams => ({
  weight: constantInit([dim], 1, dtype),
  bias: constantInit([dim], 0, dtype),
});

export const initRMSNorm = (dim: number, dtype: DType = "float32"): RMSNormParams => ({ weight: constantInit([dim], 1, dtype) });

export const layerNorm = (p: LayerNormParams, x: Tensor, eps: number): Tensor => layerNormOp(x, p.weight, p.bias, eps);

export const rmsNorm = (p: RMSNormParams, x: Tensor, eps: number): Tensor => rmsNormOp(x, p.weight, eps);

/** ViT patch embedding: a conv with kernel = stride = patch size, flattened row-major. */
import { conv2d } from "../ops/nn.js";
import { reshape, transpose } from "../ops/shape.js";
import type { DType } from "../tensor/dtype.js";
import { ShapeError } from "../tensor/errors.js";
import { fmt } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import { constantInit, normalInit, subSeed } from "./init.js";

export interface PatchEmbedParams {
  /** [dim, channels, patch, patch] */
  readonly weight: Tensor;
  readonly bias: Tensor;
}

export const initPatchEmbed = (
  seed: number,
  channels: number,
  dim: number,
  patch: number,
  std = 0.02,
  dtype: DType = "float32",
): PatchEmbedParams => ({
  weight: normalInit(subSeed(seed, "weight"), [dim, channels, patch, patch], std, dtype),
  bias: constantInit([dim], 0, dtype),
});

/**
 * pixels [N, C, H, W] -> tokens [N, (H/p)·(W/p), dim]; token index = row·(W/p) + col.
 * H and W must be multiples of the patch size.
 */
export function patchEmbed(p: PatchEmbedParams, pixels: Tensor): Tensor {
  const patch = p.weight.shape[2]!;
  const [N, , H, W] = pixels.shape as [number, number, number, number];
  if (pixels.ndim !== 4 || H % patch !== 0 || W % patch !== 0) {
    throw new ShapeError(`patchEmbed: pixels ${fmt(pixels.shape)} must be [N, C, H, W] with H and W multiples of the patch size ${patch}`);
  }
  const y = conv2d(pixels, p.weight, { bias: p.bias, stride: patch }); // [N, dim, H/p, W/p]
  return transpose(reshape(y, [N, p.weight.shape[0]!, -1]), [0, 2, 1]);
}

/**
 * From ViT hidden states to language-model embeddings: drop the class token,
 * pixel-shuffle each k×k block of patches into one token (k = 1 / downsample
 * ratio), then the mlp1 projector.
 */
import { linear } from "../../nn/linear.js";
import { layerNorm } from "../../nn/norm.js";
import { gelu } from "../../ops/nn.js";
import { reshape, slice, transpose } from "../../ops/shape.js";
import { ShapeError } from "../../tensor/errors.js";
import { fmt } from "../../tensor/shape.js";
import type { Tensor } from "../../tensor/tensor.js";
import type { InternVLConfig } from "./config.js";
import type { InternVLParams, ProjectorParams } from "./params.js";
import { visionEncoder } from "./vision.js";

/**
 * x [N, gh, gw, C] -> [N, (gh/k)·(gw/k), k²·C]. In "v2" (InternVL's
 * ps_version v2 and transformers) token t = (row/k)·(gw/k) + col/k and
 * channel = (row%k)·k·C + (col%k)·C + c; "v1" orders tokens column-major
 * ((col/k)·(gh/k) + row/k) with the same channels.
 */
export function pixelShuffle(x: Tensor, k: number, version: "v1" | "v2" = "v2"): Tensor {
  const [N, gh, gw, C] = x.shape as [number, number, number, number];
  if (x.ndim !== 4 || gh % k !== 0 || gw % k !== 0)
    throw new ShapeError(`pixelShuffle: ${fmt(x.shape)} is not [N, gh, gw, C] with gh and gw multiples of ${k}`);
  const blocks = reshape(x, [N, gh / k, k, gw / k, k, C]); // (n, row/k, row%k, col/k, col%k, c)
  const perm = version === "v2" ? [0, 1, 3, 2, 4, 5] : [0, 3, 1, 2, 4, 5];
  return reshape(transpose(blocks, perm), [N, (gh / k) * (gw / k), k * k * C]);
}

/** mlp1: LayerNorm (eps 1e-5) → Linear → GELU → Linear. */
export const projector = (p: ProjectorParams, x: Tensor): Tensor => linear(p.fc2, gelu(linear(p.fc1, layerNorm(p.norm, x, 1e-5))));

/** pixels [N, C, H, W] -> image tokens [N, (H/p)·(W/p)·r², d] in the language model's width. */
export function imageFeatures(c: InternVLConfig, p: InternVLParams, pixels: Tensor): Tensor {
  const h = visionEncoder(c, p.vision, pixels);
  const [N, S, D] = h.shape as [number, number, number];
  const gh = pixels.shape[2]! / c.vision.patchSize,
    gw = pixels.shape[3]! / c.vision.patchSize;
  const patches = reshape(slice(h, [0, 1, 0], [N, S, D]), [N, gh, gw, D]);
  return projector(p.projector, pixelShuffle(patches, Math.round(1 / c.downsampleRatio), c.psVersion));
}

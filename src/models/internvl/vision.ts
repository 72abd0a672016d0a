/**
 * InternViT (the 300M encoder of the 1B/2B models): patch embedding, a class
 * token, absolute position embeddings, then pre-norm layers
 *
 *   x += ls1 ⊙ attn(norm1(x));   x += ls2 ⊙ mlp(norm2(x))
 *
 * with bidirectional multi-head attention from one fused qkv projection
 * (rows: q, then k, then v), the exact GELU, and no final norm.
 */
import { dotProductAttention, mergeHeads } from "../../nn/attention.js";
import { linear } from "../../nn/linear.js";
import { geluMlp } from "../../nn/mlp.js";
import { layerNorm } from "../../nn/norm.js";
import { patchEmbed } from "../../nn/patch.js";
import { add, mul } from "../../ops/elementwise.js";
import { cast } from "../../ops/cast.js";
import { matmul } from "../../ops/linalg.js";
import { broadcastTo, concat, reshape, slice, split, squeeze, transpose } from "../../ops/shape.js";
import { fromStorage } from "../../ops/create.js";
import { fromNumbers, isFloat } from "../../tensor/dtype.js";
import { ShapeError } from "../../tensor/errors.js";
import { fmt } from "../../tensor/shape.js";
import type { Tensor } from "../../tensor/tensor.js";
import { visionDepth, type InternVLConfig } from "./config.js";
import type { VisionLayerParams, VisionParams } from "./params.js";

const A = -0.75; // PyTorch's bicubic kernel parameter
const near = (x: number) => ((A + 2) * x - (A + 3)) * x * x + 1; // |x| ≤ 1
const far = (x: number) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; // 1 < |x| < 2

/**
 * The [outSize, inSize] matrix of 1-D bicubic resampling as PyTorch's
 * F.interpolate(mode="bicubic", align_corners=False) does it: source
 * coordinate (i + ½)·in/out − ½, four taps, indices clamped at the borders.
 */
export function bicubicMatrix(inSize: number, outSize: number): Float64Array {
  const m = new Float64Array(outSize * inSize),
    scale = inSize / outSize;
  for (let i = 0; i < outSize; i++) {
    const src = (i + 0.5) * scale - 0.5,
      x0 = Math.floor(src),
      t = src - x0;
    const taps = [far(t + 1), near(t), near(1 - t), far(2 - t)];
    taps.forEach((w, k) => {
      const j = Math.min(Math.max(x0 - 1 + k, 0), inSize - 1);
      m[i * inSize + j] += w;
    });
  }
  return m;
}

/**
 * Position embeddings for a gh × gw patch grid: the stored grid's rows are
 * resized bicubically as an image when the grid differs (the class token's
 * row is kept). [1, 1 + g², D] -> [1, 1 + gh·gw, D].
 */
export function positionEmbeddingFor(pos: Tensor, gh: number, gw: number): Tensor {
  const [, n, D] = pos.shape as [number, number, number];
  const g = Math.round(Math.sqrt(n - 1));
  if (g * g !== n - 1) throw new ShapeError(`position embedding ${fmt(pos.shape)} does not cover a square patch grid plus a class token`);
  if (g === gh && g === gw) return pos;
  const resize = (out: number) => fromStorage(fromNumbers(bicubicMatrix(g, out), pos.dtype), [out, g], pos.dtype, pos.device);
  const grid = reshape(slice(pos, [0, 1, 0]), [g, g * D]);
  const rows = reshape(matmul(resize(gh), grid), [gh, g, D]);
  const both = matmul(resize(gw), rows); // [gw, g] @ [gh, g, D] -> [gh, gw, D]
  return concat([slice(pos, [0, 0, 0], [1, 1, D]), reshape(both, [1, gh * gw, D])], 1);
}

function attention(p: VisionLayerParams["attn"], x: Tensor, heads: number): Tensor {
  const [N, S, D] = x.shape as [number, number, number];
  const qkv = transpose(reshape(linear(p.qkv, x), [N, S, 3, heads, D / heads]), [2, 0, 3, 1, 4]); // [3, N, H, S, hd]
  const [q, k, v] = split(qkv, 3, 0).map((t) => squeeze(t, 0)) as [Tensor, Tensor, Tensor];
  return linear(p.proj, mergeHeads(dotProductAttention(q, k, v, { causal: false })));
}

function encoderLayer(c: InternVLConfig, p: VisionLayerParams, x: Tensor): Tensor {
  const eps = c.vision.layerNormEps;
  const h = add(x, mul(attention(p.attn, layerNorm(p.norm1, x, eps), c.vision.numHeads), p.ls1));
  return add(h, mul(geluMlp(p.mlp, layerNorm(p.norm2, h, eps)), p.ls2));
}

/**
 * pixels [N, C, H, W] -> hidden states [N, 1 + (H/p)·(W/p), D] of the layer
 * `select_layer` picks (the class token first). H and W need not be the
 * configured tile size: the position embeddings are resized to fit.
 */
export function visionEncoder(c: InternVLConfig, p: VisionParams, pixels: Tensor): Tensor {
  const { patchSize: ps, numChannels } = c.vision;
  if (
    pixels.ndim !== 4 ||
    pixels.shape[1] !== numChannels ||
    pixels.shape[2]! % ps !== 0 ||
    pixels.shape[3]! % ps !== 0 ||
    !isFloat(pixels.dtype)
  ) {
    throw new ShapeError(
      `InternViT: pixelValues must be float [N, ${numChannels}, H, W] with H and W multiples of ${ps}, got ${fmt(pixels.shape)} ${pixels.dtype}`,
    );
  }
  const x0 = patchEmbed(p.patchEmbed, cast(pixels, p.patchEmbed.weight.dtype));
  const [N, , D] = x0.shape as [number, number, number];
  const cls = broadcastTo(p.classEmbedding, [N, 1, D]);
  let x = add(concat([cls, x0], 1), positionEmbeddingFor(p.positionEmbedding, pixels.shape[2]! / ps, pixels.shape[3]! / ps));
  for (let i = 0; i < visionDepth(c); i++) x = encoderLayer(c, p.layers[i]!, x);
  return x;
}

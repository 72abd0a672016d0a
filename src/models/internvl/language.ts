/**
 * The Qwen2 / Qwen3 decoder: pre-norm layers
 *
 *   x += attn(rmsNorm(x));   x += swiGlu(rmsNorm(x))
 *
 * with causal grouped-query attention and rotate-half RoPE over absolute
 * positions (image tokens included), then a final RMSNorm and the LM head
 * (the embedding matrix when the head is tied).
 */
import { selfAttention, type KVCache } from "../../nn/attention.js";
import { linear } from "../../nn/linear.js";
import { swiGlu } from "../../nn/mlp.js";
import { rmsNorm } from "../../nn/norm.js";
import { ropeTables } from "../../nn/rope.js";
import { add } from "../../ops/elementwise.js";
import { matmul } from "../../ops/linalg.js";
import type { Tensor } from "../../tensor/tensor.js";
import type { TextConfig } from "./config.js";
import type { LanguageParams } from "./params.js";

/** Per-layer key/value caches and the number of positions they hold. */
export interface DecoderCache {
  readonly layers: readonly KVCache[];
  readonly length: number;
}

/**
 * embeds [B, T, d] -> final hidden states [B, T, d] (after the last norm).
 * With `cache`, the T positions follow the cached ones; the returned cache
 * holds them all.
 */
export function decoder(c: TextConfig, p: LanguageParams, embeds: Tensor, cache?: DecoderCache): { hidden: Tensor; cache: DecoderCache } {
  const T = embeds.shape[1]!,
    start = cache?.length ?? 0;
  const rope = ropeTables(start, T, c.headDim, c.ropeTheta, embeds.dtype, embeds.device);
  const layers: KVCache[] = [];
  let x = embeds;
  p.layers.forEach((lp, i) => {
    const a = selfAttention(lp.attn, rmsNorm(lp.inputNorm, x, c.rmsNormEps), {
      heads: c.numHeads,
      kvHeads: c.numKvHeads,
      causal: true,
      rope,
      normEps: c.rmsNormEps,
      cache: cache?.layers[i],
    });
    layers.push(a.cache);
    x = add(x, a.y);
    x = add(x, swiGlu(lp.mlp, rmsNorm(lp.postNorm, x, c.rmsNormEps)));
  });
  return { hidden: rmsNorm(p.norm, x, c.rmsNormEps), cache: { layers, length: start + T } };
}

/** hidden [..., d] -> logits [..., vocab]; a tied head multiplies by the embedding matrix transposed. */
export const lmHead = (p: LanguageParams, hidden: Tensor): Tensor =>
  p.lmHead ? linear(p.lmHead, hidden) : matmul(hidden, p.embed.weight, { transposeB: true });

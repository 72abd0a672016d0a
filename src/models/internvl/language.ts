/**
 * The Qwen2 / Qwen3 decoder: pre-norm layers
 *
 *   x += attn(rmsNorm(x));   x += swiGlu(rmsNorm(x))
 *
 * with causal grouped-query attention and rotate-half RoPE over absolute
 * positions (image tokens included), then a final RMSNorm and the LM head
 * (the embedding matrix when the head is tied).
 */
import { selfAttention, type KVCache, type SlotWrite } from "../../nn/attention.js";
import { linear } from "../../nn/linear.js";
import { swiGlu } from "../../nn/mlp.js";
import { rmsNorm } from "../../nn/norm.js";
import { ropeTables, type RopeTables } from "../../nn/rope.js";
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
  const { hidden, layers } = layersOf(c, p, embeds, rope, (i) => ({ causal: true, cache: cache?.layers[i] }));
  return { hidden, cache: { layers, length: start + T } };
}

/**
 * One decoding step over fixed-capacity caches (each layer's k, v
 * [B, KV, S, hd]): embeds [B, 1, d] at the position whose RoPE tables
 * ([1, hd]) and slot (`slot.write`, `slot.mask`) are given, so that every
 * position runs the same shapes and one jitted program serves them all.
 * Returns the hidden state [B, 1, d] and the caches with the position written.
 */
export function decoderAt(
  c: TextConfig,
  p: LanguageParams,
  embeds: Tensor,
  cache: readonly KVCache[],
  at: { readonly rope: RopeTables; readonly slot: SlotWrite },
): { hidden: Tensor; layers: KVCache[] } {
  return layersOf(c, p, embeds, at.rope, (i) => ({ causal: false, cache: cache[i], slot: at.slot }));
}

function layersOf(
  c: TextConfig,
  p: LanguageParams,
  embeds: Tensor,
  rope: RopeTables,
  attention: (layer: number) => { causal: boolean; cache: KVCache | undefined; slot?: SlotWrite },
): { hidden: Tensor; layers: KVCache[] } {
  const layers: KVCache[] = [];
  let x = embeds;
  p.layers.forEach((lp, i) => {
    const { causal, cache, slot } = attention(i);
    const a = selfAttention(lp.attn, rmsNorm(lp.inputNorm, x, c.rmsNormEps), {
      heads: c.numHeads,
      kvHeads: c.numKvHeads,
      causal,
      rope,
      normEps: c.rmsNormEps,
      ...(cache && { cache }),
      ...(slot && { slot }),
    });
    layers.push(a.cache);
    x = add(x, a.y);
    x = add(x, swiGlu(lp.mlp, rmsNorm(lp.postNorm, x, c.rmsNormEps)));
  });
  return { hidden: rmsNorm(p.norm, x, c.rmsNormEps), layers };
}

/** hidden [..., d] -> logits [..., vocab]; a tied head multiplies by the embedding matrix transposed. */
export const lmHead = (p: LanguageParams, hidden: Tensor): Tensor =>
  p.lmHead ? linear(p.lmHead, hidden) : matmul(hidden, p.embed.weight, { transposeB: true });

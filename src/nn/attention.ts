/**
 * Scaled dot-product attention with grouped-query heads, and the
 * projection-level self-attention layer of Qwen2/Qwen3 (optional q/k biases,
 * optional per-head q/k RMSNorm, RoPE, a KV cache for decoding).
 *
 * Layouts: activations [B, T, H·hd]; per-head tensors [B, H, T, hd];
 * query head h reads key/value head ⌊h / (H / KV)⌋, as in transformers'
 * `repeat_kv`.
 */
import { add, mul, where } from "../ops/elementwise.js";
import { matmul } from "../ops/linalg.js";
import { softmax } from "../ops/rows.js";
import { concat, expandDims, reshape, transpose } from "../ops/shape.js";
import { fromStorage } from "../ops/create.js";
import { fromNumbers, type DType } from "../tensor/dtype.js";
import { ShapeError } from "../tensor/errors.js";
import { fmt } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import { subSeed } from "./init.js";
import { initLinear, linear, type LinearParams } from "./linear.js";
import { initRMSNorm, rmsNorm, type RMSNormParams } from "./norm.js";
import { applyRope, type RopeTables } from "./rope.js";

/** Keys and values seen so far by one attention layer, after RoPE: each [B, KV, S, hd]. */
export interface KVCache {
  readonly k: Tensor;
  readonly v: Tensor;
}

/** [B, T, H·hd] -> [B, H, T, hd] */
export function splitHeads(x: Tensor, heads: number): Tensor {
  const [B, T, D] = x.shape as [number, number, number];
  if (x.ndim !== 3 || D % heads !== 0) throw new ShapeError(`splitHeads: ${fmt(x.shape)} cannot be split into ${heads} heads`);
  return transpose(reshape(x, [B, T, heads, D / heads]), [0, 2, 1, 3]);
}

/** [B, H, T, hd] -> [B, T, H·hd] */
export function mergeHeads(x: Tensor): Tensor {
  const [B, H, T, hd] = x.shape as [number, number, number, number];
  return reshape(transpose(x, [0, 2, 1, 3]), [B, T, H * hd]);
}

/**
 * Additive causal mask [tq, tk] for queries that are the last tq of tk
 * positions: query i may see key j iff j ≤ tk - tq + i (else -∞).
 */
export function causalMask(tq: number, tk: number, dtype: DType = "float32", device?: string): Tensor {
  const m = new Float64Array(tq * tk);
  for (let i = 0; i < tq; i++) m.fill(-Infinity, i * tk + tk - tq + i + 1, (i + 1) * tk);
  return fromStorage(fromNumbers(m, dtype), [tq, tk], dtype, device);
}

export interface SdpaOptions {
  causal: boolean;
  /** Default 1/√hd. */
  scale?: number;
  /** An additive mask [T, S] (0 where a query may see a key, -∞ where not), added after the causal one. */
  mask?: Tensor;
}

/**
 * softmax(q·kᵀ·scale + mask)·v with q [B, H, T, hd] and k, v [B, KV, S, hd],
 * H a multiple of KV. Returns [B, H, T, hd].
 */
export function dotProductAttention(q: Tensor, k: Tensor, v: Tensor, opts: SdpaOptions): Tensor {
  const [B, H, T, hd] = q.shape as [number, number, number, number];
  const [Bk, KV, S, hdk] = k.shape as [number, number, number, number];
  if (q.ndim !== 4 || k.ndim !== 4 || Bk !== B || hdk !== hd || H % KV !== 0 || v.shape.some((d, i) => d !== k.shape[i])) {
    throw new ShapeError(
      `attention: q ${fmt(q.shape)}, k ${fmt(k.shape)}, v ${fmt(v.shape)} must be [B, H, T, hd], [B, KV, S, hd] x2 with H a multiple of KV`,
    );
  }
  const G = H / KV;
  // the G query heads of each KV head form one extra batch axis; k and v broadcast over it
  const qg = reshape(mul(q, opts.scale ?? 1 / Math.sqrt(hd)), [B, KV, G, T, hd]);
  let scores = matmul(qg, expandDims(k, 2), { transposeB: true }); // [B, KV, G, T, S]
  if (opts.causal) scores = add(scores, causalMask(T, S, scores.dtype, scores.device));
  if (opts.mask) scores = add(scores, opts.mask);
  const out = matmul(softmax(scores, -1), expandDims(v, 2)); // [B, KV, G, T, hd]
  return reshape(out, [B, H, T, hd]);
}

export interface AttentionParams {
  readonly q: LinearParams;
  readonly k: LinearParams;
  readonly v: LinearParams;
  readonly o: LinearParams;
  /** Per-head RMSNorm over hd, applied to q and k before RoPE (Qwen3). */
  readonly qNorm?: RMSNormParams;
  readonly kNorm?: RMSNormParams;
}

export interface AttentionShape {
  readonly dim: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  /** Biases on the q, k and v projections (Qwen2: yes; Qwen3: no). The output projection has none. */
  readonly qkvBias: boolean;
  /** Per-head q/k RMSNorm (Qwen3). */
  readonly qkNorm: boolean;
}

export function initAttention(seed: number, s: AttentionShape, dtype: DType = "float32"): AttentionParams {
  const proj = (name: string, inDim: number, outDim: number, bias: boolean) =>
    initLinear(subSeed(seed, name), inDim, outDim, { bias, dtype });
  return {
    q: proj("q", s.dim, s.heads * s.headDim, s.qkvBias),
    k: proj("k", s.dim, s.kvHeads * s.headDim, s.qkvBias),
    v: proj("v", s.dim, s.kvHeads * s.headDim, s.qkvBias),
    o: proj("o", s.heads * s.headDim, s.dim, false),
    ...(s.qkNorm && { qNorm: initRMSNorm(s.headDim, dtype), kNorm: initRMSNorm(s.headDim, dtype) }),
  };
}

export interface SelfAttentionOptions {
  readonly heads: number;
  readonly kvHeads: number;
  readonly causal: boolean;
  /** RoPE tables for the T new positions (absent: no rotary embedding). */
  readonly rope?: RopeTables;
  /** Epsilon of the q/k RMSNorm. */
  readonly normEps?: number;
  /** Keys and values of earlier positions; the new ones are appended (unless `slot` is given). */
  readonly cache?: KVCache;
  /**
   * Decoding into a fixed-capacity cache: `cache` holds S slots, the one new
   * position (T = 1) is written to the slot where `write` (bool [S, 1]) is
   * true, and attention reads all S slots through `mask` (additive [1, S]:
   * 0 up to the new position, -∞ after it) instead of the causal mask. The
   * shapes never change from one position to the next, so one compiled
   * program (ag.jit) serves every decoding step.
   */
  readonly slot?: SlotWrite;
}

/** Where a decoding step writes into a fixed-capacity KV cache, and which slots it reads (see SelfAttentionOptions.slot). */
export interface SlotWrite {
  readonly write: Tensor;
  readonly mask: Tensor;
}

/**
 * Self-attention over x [B, T, dim]. Returns the output [B, T, dim] and the
 * cache holding every position so far (pass it back in to decode the next).
 */
export function selfAttention(p: AttentionParams, x: Tensor, o: SelfAttentionOptions): { y: Tensor; cache: KVCache } {
  let q = splitHeads(linear(p.q, x), o.heads);
  let k = splitHeads(linear(p.k, x), o.kvHeads);
  let v = splitHeads(linear(p.v, x), o.kvHeads);
  if (p.qNorm) q = rmsNorm(p.qNorm, q, o.normEps ?? 1e-6);
  if (p.kNorm) k = rmsNorm(p.kNorm, k, o.normEps ?? 1e-6);
  if (o.rope) {
    q = applyRope(q, o.rope);
    k = applyRope(k, o.rope);
  }
  if (o.slot) {
    if (!o.cache || x.shape[1] !== 1)
      throw new ShapeError(`selfAttention: writing a cache slot needs the cache and one new position, got x ${fmt(x.shape)}`);
    // a select, not arithmetic: the other slots keep their exact bits
    k = where(o.slot.write, k, o.cache.k);
    v = where(o.slot.write, v, o.cache.v);
    const y = linear(p.o, mergeHeads(dotProductAttention(q, k, v, { causal: false, mask: o.slot.mask })));
    return { y, cache: { k, v } };
  }
  if (o.cache) {
    k = concat([o.cache.k, k], 2);
    v = concat([o.cache.v, v], 2);
  }
  const y = linear(p.o, mergeHeads(dotProductAttention(q, k, v, { causal: o.causal })));
  return { y, cache: { k, v } };
}

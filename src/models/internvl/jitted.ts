/**
 * The forward passes of generation, compiled with ag.jit (docs/jit.md):
 *
 * - the prefill, once per prompt-length bucket: the prompt is padded on the
 *   right to `lengthBucket(T)` positions, which changes nothing for the real
 *   ones (attention is causal), and the logits are read at the last real
 *   position, given as a tensor; `withCapacity` then pads its cache with
 *   empty slots;
 * - the decoding step, once for all positions: the KV cache is a buffer of
 *   a fixed capacity S (lengthBucket(T + maxNewTokens)), the new position's
 *   key and value are written into its slot with a select, and attention
 *   reads every slot through an additive mask that hides the slots after
 *   the position. The position itself (its RoPE tables, the slot, the mask)
 *   comes in as tensors, so every step has the same signature.
 *
 * The prefill's padding slots hold keys of padding tokens until decoding
 * overwrites them; the mask hides them until then.
 */
import { jit, type Jitted } from "../../ir/jit.js";
import type { KVCache } from "../../nn/attention.js";
import { embedding } from "../../nn/embedding.js";
import { ropeTables } from "../../nn/rope.js";
import { fromStorage } from "../../ops/create.js";
import { gather } from "../../ops/indexing.js";
import { pad, reshape } from "../../ops/shape.js";
import { fromNumbers } from "../../tensor/dtype.js";
import type { Tensor } from "../../tensor/tensor.js";
import type { InternVLConfig } from "./config.js";
import { decoder, decoderAt, lmHead } from "./language.js";
import { embedInputs } from "./model.js";
import type { InternVLParams } from "./params.js";

/**
 * The length a sequence of `n` positions is padded to: a multiple of 16 up
 * to 128, then of an eighth of the next power of two (144, 160, ..., 256,
 * 288, ...), so padding adds less than a quarter and a run sees a few
 * buckets per doubling of the length.
 */
export function lengthBucket(n: number): number {
  if (!(n >= 1)) return 16;
  const g = Math.max(16, 2 ** (Math.ceil(Math.log2(n)) - 3));
  return Math.ceil(n / g) * g;
}

/** Inputs of the prefill over a right-padded prompt. */
export interface PrefillInputs {
  /** int32 [B, Tp], right-padded to the bucket. */
  readonly inputIds: Tensor;
  /** float [N, C, H, W]; with `embedIndex` (model.ts embedIndex over the padded ids). */
  readonly pixelValues?: Tensor;
  readonly embedIndex?: Tensor;
  /** int32 [B]: b·Tp + T − 1, the row of each prompt's last real position in [B·Tp]. */
  readonly last: Tensor;
}

/** Inputs of one decoding step at one position (stepInputs makes them). */
export interface StepInputs {
  /** int32 [B, 1]: the token at the position. */
  readonly inputIds: Tensor;
  /** RoPE tables of the position, each [1, headDim]. */
  readonly cos: Tensor;
  readonly sin: Tensor;
  /** bool [S, 1]: true at the position's slot. */
  readonly write: Tensor;
  /** [1, S] additive: 0 up to the position, -∞ after it. */
  readonly mask: Tensor;
}

/** Logits [B, 1, V] of the last position, and each layer's cache ([B, KV, positions or slots, hd]). */
export interface Decoded {
  readonly logits: Tensor;
  readonly cache: KVCache[];
}

export interface GenerationPrograms {
  readonly prefill: Jitted<(p: InternVLParams, x: PrefillInputs) => Decoded>;
  readonly step: Jitted<(p: InternVLParams, x: StepInputs, cache: KVCache[]) => Decoded>;
}

const programs = new WeakMap<InternVLConfig, GenerationPrograms>();

/** The jitted prefill and decoding step of a config (made once per config object; params are arguments). */
export function generationPrograms(c: InternVLConfig): GenerationPrograms {
  let g = programs.get(c);
  if (!g) {
    g = {
      prefill: jit((p: InternVLParams, x: PrefillInputs) => prefill(c, p, x)),
      step: jit((p: InternVLParams, x: StepInputs, cache: KVCache[]) => decodeStep(c, p, x, cache)),
    };
    programs.set(c, g);
  }
  return g;
}

/** The padded prompt through the model: each row's logits at its last real position, and the cache of all Tp positions. Reads nothing on the host. */
export function prefill(c: InternVLConfig, p: InternVLParams, x: PrefillInputs): Decoded {
  // the ids were checked on the host (generate): without pixels, embedInputs reads nothing
  const embeds = embedInputs(c, p, { inputIds: x.inputIds, pixelValues: x.pixelValues ?? null, embedIndex: x.embedIndex ?? null });
  const { hidden, cache } = decoder(c.text, p.language, embeds);
  const [B, Tp, d] = hidden.shape as [number, number, number];
  const h = reshape(gather(reshape(hidden, [B * Tp, d]), x.last, 0), [B, 1, d]);
  return { logits: lmHead(p.language, h), cache: cache.layers as KVCache[] };
}

/** Each layer's cache padded with zeros (empty slots) to `capacity` positions along its sequence axis. */
export function withCapacity(cache: readonly KVCache[], capacity: number): KVCache[] {
  return cache.map(({ k, v }) => {
    const widths = [
      [0, 0],
      [0, 0],
      [0, capacity - k.shape[2]!],
      [0, 0],
    ] as const;
    return { k: pad(k, widths), v: pad(v, widths) };
  });
}

/** One token per row at the position `x` describes, over caches of S slots. */
export function decodeStep(c: InternVLConfig, p: InternVLParams, x: StepInputs, cache: readonly KVCache[]): Decoded {
  const embeds = embedding(p.language.embed, x.inputIds);
  const { hidden, layers } = decoderAt(c.text, p.language, embeds, cache, {
    rope: { cos: x.cos, sin: x.sin },
    slot: { write: x.write, mask: x.mask },
  });
  return { logits: lmHead(p.language, hidden), cache: layers };
}

/** The position-dependent inputs of a step at `position` of `capacity` slots, in `dtype` on `device`. */
export function stepInputs(
  c: InternVLConfig,
  ids: Int32Array,
  position: number,
  capacity: number,
  dtype: Tensor["dtype"],
  device: string,
): StepInputs {
  const { cos, sin } = ropeTables(position, 1, c.text.headDim, c.text.ropeTheta, dtype, device);
  const write = new Uint8Array(capacity);
  write[position] = 1;
  const mask = new Float64Array(capacity).fill(-Infinity, position + 1);
  return {
    inputIds: fromStorage(ids, [ids.length, 1], "int32", device),
    cos,
    sin,
    write: fromStorage(write, [capacity, 1], "bool", device),
    mask: fromStorage(fromNumbers(mask, dtype), [1, capacity], dtype, device),
  };
}

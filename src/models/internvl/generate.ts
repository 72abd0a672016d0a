/**
 * Autoregressive generation with the KV cache: one prefill over the prompt
 * (images included), then one position per step. Greedy by default;
 * temperature / top-p (nucleus) sampling draws from a seeded counter-based
 * stream, so a seed reproduces a run on any backend. Each row stops at its
 * first stop token (<|im_end|> and the config's eos).
 *
 * By default both passes are compiled with ag.jit (jitted.ts): the prefill
 * once per prompt-length bucket, the decoding step once for every position
 * of a fixed-capacity cache. `jit: false` runs them op by op (the cache
 * grows by concatenation), for debugging; greedy decoding picks the same
 * tokens either way.
 */
import { fromStorage, randomUniform } from "../../ops/create.js";
import { argmax } from "../../ops/reduce.js";
import { scope } from "../../tensor/scope.js";
import { treeLeaves } from "../../tensor/pytree.js";
import { fmt } from "../../tensor/shape.js";
import type { Tensor } from "../../tensor/tensor.js";
import type { InternVLModel } from "./checkpoint.js";
import { tokensPerTile } from "./config.js";
import { embedIndex, forwardWithCache, InputError, readIds } from "./model.js";
import { generationPrograms, lengthBucket, stepInputs, withCapacity } from "./jitted.js";
import type { DecoderCache } from "./language.js";

export interface GenerateOptions {
  /** int32 [B, T]: B prompts of equal length. */
  readonly inputIds: Tensor;
  readonly pixelValues?: Tensor | null;
  readonly maxNewTokens: number;
  /** 0 (default): greedy. */
  readonly temperature?: number;
  /** Nucleus mass in (0, 1]; 1 (default) keeps every token. */
  readonly topP?: number;
  readonly seed?: number;
  /** Default: the tokenizer's <|im_end|> and eos, and the config's eos_token_id. */
  readonly stopTokenIds?: readonly number[];
  /**
   * Compile the prefill (per prompt-length bucket) and the decoding step
   * (once) with ag.jit; default true. false runs every op eagerly.
   */
  readonly jit?: boolean;
}

export interface GenerateResult {
  /** New tokens of each row, its stop token included when it stopped. */
  readonly tokens: number[][];
  /** Each row decoded without special tokens (null without a tokenizer). */
  readonly text: string[] | null;
  readonly stats: {
    readonly promptTokens: number;
    readonly newTokens: number;
    readonly prefillMs: number;
    readonly decodeMs: number;
    /** New tokens (summed over rows) per second of the whole call, prefill included. */
    readonly tokensPerSecond: number;
  };
}

/** Pick the next token from one row of logits: argmax, or a tempered nucleus sample at uniform draw `u`. */
export function pickToken(logits: ArrayLike<number>, temperature: number, topP: number, u: number): number {
  const V = logits.length;
  if (!(temperature > 0)) {
    let best = 0;
    for (let i = 1; i < V; i++) if (logits[i]! > logits[best]!) best = i;
    return best;
  }
  let m = -Infinity;
  for (let i = 0; i < V; i++) m = Math.max(m, logits[i]!);
  const p = new Float64Array(V);
  let z = 0;
  for (let i = 0; i < V; i++) z += p[i] = Math.exp((logits[i]! - m) / temperature);
  let order = Array.from({ length: V }, (_, i) => i);
  if (topP < 1) {
    order.sort((a, b) => p[b]! - p[a]! || a - b);
    let mass = 0,
      keep = 0;
    while (keep < V && (keep === 0 || mass < topP * z)) mass += p[order[keep++]!]!;
    order = order.slice(0, keep);
    z = mass;
  }
  let acc = 0;
  for (const i of order) {
    acc += p[i]! / z;
    if (u < acc) return i;
  }
  return order[order.length - 1]!;
}

/** The model's passes as generate drives them: logits [B, 1, V] of the prompt's last position, then of each next token. */
interface Passes {
  /** Logits after the prompt. */
  first(): Tensor;
  /** Logits after feeding one more token per row (int32 [B]). */
  next(ids: Int32Array): Tensor;
  /** Release the cache. */
  dispose(): void;
}

const disposeAll = (tree: unknown) => treeLeaves(tree as object).forEach((t) => t.dispose());

/** Op by op, the cache growing by one position per step (forwardWithCache). */
function eagerPasses(model: InternVLModel, opts: GenerateOptions): Passes {
  const { config: c, params: p } = model;
  const B = opts.inputIds.shape[0]!;
  let cache: DecoderCache | null = null;
  const run = (f: () => { logits: Tensor; cache: DecoderCache }) => {
    const s = scope(f);
    if (cache) disposeAll(cache.layers);
    cache = s.cache;
    return s.logits;
  };
  return {
    first: () => run(() => forwardWithCache(c, p, { inputIds: opts.inputIds, pixelValues: opts.pixelValues ?? null }, { lastOnly: true })),
    next: (ids) =>
      run(() =>
        forwardWithCache(c, p, { inputIds: fromStorage(ids, [B, 1], "int32", opts.inputIds.device) }, { cache: cache!, lastOnly: true }),
      ),
    dispose: () => cache && disposeAll(cache.layers),
  };
}

/**
 * Compiled (jitted.ts): the prompt right-padded to its length bucket, then
 * one program per step over a cache of lengthBucket(T + maxNewTokens) slots.
 */
function jittedPasses(model: InternVLModel, opts: GenerateOptions): Passes {
  const { config: c, params: p, tokenizer } = model;
  const [B, T] = opts.inputIds.shape as [number, number];
  const device = p.language.embed.weight.device,
    dtype = p.language.embed.weight.dtype;
  const ids = readIds(c, opts.inputIds, device);
  const Tp = lengthBucket(T),
    capacity = lengthBucket(T + opts.maxNewTokens);
  // padding: any id of the vocabulary but the image token (padded positions are never read)
  const padId = [tokenizer?.specialIds.pad, tokenizer?.specialIds.imEnd, 0, 1].find(
    (id): id is number => typeof id === "number" && id !== c.imageTokenId && id >= 0 && id < c.text.vocabSize,
  )!;
  const padded = new Int32Array(B * Tp).fill(padId);
  for (let b = 0; b < B; b++) padded.set(ids.subarray(b * T, (b + 1) * T), b * Tp);
  const pixels = opts.pixelValues ?? null;
  const index = pixels
    ? embedIndex(
        c,
        padded,
        pixels.shape[0]! * tokensPerTile(c),
        `pixelValues ${fmt(pixels.shape)} give ${pixels.shape[0]} tiles × ${tokensPerTile(c)}`,
      )
    : (embedIndex(c, padded, 0, "no pixelValues were given"), null); // an error if there are image tokens
  const programs = generationPrograms(c);
  let cache: unknown = null;
  let position = T - 1;
  const keep = (d: { logits: Tensor; cache: unknown }) => {
    disposeAll(cache);
    cache = d.cache;
    return d.logits;
  };
  return {
    first: () =>
      keep(
        scope(() => {
          const out = programs.prefill(p, {
            inputIds: fromStorage(padded, [B, Tp], "int32", device),
            ...(pixels && index && { pixelValues: pixels, embedIndex: fromStorage(index, [B * Tp], "int32", device) }),
            last: fromStorage(
              Int32Array.from({ length: B }, (_, b) => b * Tp + T - 1),
              [B],
              "int32",
              device,
            ),
          });
          return { logits: out.logits, cache: withCapacity(out.cache, capacity) }; // the prompt's positions are the first Tp slots
        }),
      ),
    next: (next) => {
      position++;
      return keep(scope(() => programs.step(p, stepInputs(c, next, position, capacity, dtype, device), cache as never)));
    },
    dispose: () => disposeAll(cache),
  };
}

/** Generate up to `maxNewTokens` tokens per row. */
export async function generate(model: InternVLModel, opts: GenerateOptions): Promise<GenerateResult> {
  const { config: c, tokenizer } = model;
  const [B, T] = opts.inputIds.shape as [number, number];
  const maxNew = opts.maxNewTokens;
  if (!Number.isInteger(maxNew) || maxNew < 1) throw new InputError(`generate: maxNewTokens must be a positive integer, got ${maxNew}`);
  if (T + maxNew > c.text.maxPositionEmbeddings) {
    throw new InputError(
      `generate: the prompt has ${T} tokens; with ${maxNew} new ones that exceeds the context of ${c.text.maxPositionEmbeddings} positions (max_position_embeddings)`,
    );
  }
  const temperature = opts.temperature ?? 0,
    topP = opts.topP ?? 1,
    seed = opts.seed ?? 0;
  if (!(temperature >= 0) || !(topP > 0 && topP <= 1))
    throw new InputError(`generate: need temperature ≥ 0 and 0 < topP ≤ 1, got ${temperature} and ${topP}`);
  const stops = new Set(
    opts.stopTokenIds ??
      [tokenizer?.specialIds.imEnd, tokenizer?.specialIds.eos, c.text.eosTokenId].filter((x): x is number => typeof x === "number"),
  );
  const V = c.text.vocabSize;
  const tokens: number[][] = Array.from({ length: B }, () => []);
  const done = new Array<boolean>(B).fill(false);

  const t0 = performance.now();
  const passes = opts.jit === false ? eagerPasses(model, opts) : jittedPasses(model, opts);
  let prefillMs = 0;
  try {
    let logitsNow = passes.first();
    for (let k = 0; ; k++) {
      // greedy: the argmax runs where the logits are and only B ids come back; sampling reads the logits
      const greedy = !(temperature > 0);
      const ids = greedy ? argmax(logitsNow, -1) : null;
      const picked = ids && (await ids.data());
      ids?.dispose();
      const logits = greedy ? null : await logitsNow.data();
      logitsNow.dispose();
      if (k === 0) prefillMs = performance.now() - t0;
      const draws = temperature > 0 ? randomUniform([B], { seed, offset: k * B, dtype: "float64", device: "cpu" }) : null;
      const u = draws?.dataSync();
      draws?.dispose();
      const next = new Int32Array(B);
      for (let b = 0; b < B; b++) {
        if (done[b]) {
          next[b] = tokens[b]![tokens[b]!.length - 1]!;
          continue;
        }
        const id = picked ? picked[b]! : pickToken(logits!.subarray(b * V, (b + 1) * V), temperature, topP, u?.[b] ?? 0);
        tokens[b]!.push(id);
        next[b] = id;
        if (stops.has(id)) done[b] = true;
      }
      if (done.every(Boolean) || k + 1 >= maxNew) break;
      logitsNow = passes.next(next);
    }
  } finally {
    passes.dispose();
  }
  const totalMs = performance.now() - t0;
  const newTokens = tokens.reduce((n, r) => n + r.length, 0);
  return {
    tokens,
    text: tokenizer ? tokens.map((r) => tokenizer.decode(r, { skipSpecial: true })) : null,
    stats: { promptTokens: T, newTokens, prefillMs, decodeMs: totalMs - prefillMs, tokensPerSecond: newTokens / (totalMs / 1000) },
  };
}

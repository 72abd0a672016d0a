/**
 * Per-sequence log-probabilities from language-model logits, without ever
 * holding a [B, T, V] temporary: real vocabularies have ~151k entries, so a
 * batch-wide log-softmax would cost several copies of the logits.
 *
 * The forward pass reads the logits twice and writes nothing of their size:
 * the fused logsumexp of every position ([B, T]) and a gather of each
 * label's logit. The gradient is a custom VJP that computes
 * w·(onehot(label) − softmax) a chunk of positions at a time (the fused
 * softmax, and the label's w added by a scatter, never a one-hot compare
 * over the vocabulary), freeing each chunk's temporaries as it goes, so the
 * autodiff tape holds the logits (which exist anyway) and a [B] output. The
 * VJP is written with ops, so it can itself be differentiated (temporaries
 * are then kept by the outer tape).
 */
import { customVjp } from "../autograd/transforms.js";
import { cast } from "../ops/cast.js";
import { equal, mul, notEqual, sub, where } from "../ops/elementwise.js";
import { gather, scatterAdd } from "../ops/indexing.js";
import { sum } from "../ops/reduce.js";
import { logsumexp, softmax } from "../ops/rows.js";
import { concat, reshape, slice, stack } from "../ops/shape.js";
import { isFloat } from "../tensor/dtype.js";
import { AnchorError, DTypeError, ShapeError } from "../tensor/errors.js";
import { arange, zeros } from "../ops/create.js";
import { scope } from "../tensor/scope.js";
import { fmt } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { hostValues } from "./batch.js";

export interface SequenceLogpsOptions {
  /**
   * Positions per step of the backward pass, which holds about 5 [chunk, V]
   * temporaries at a time; the default, ceil((T − 1) / 8), keeps them under
   * one [T, V] slice. (The forward pass has no [chunk, V] temporaries, except
   * for logits past 2^31 elements, whose labels it gathers a chunk at a time.)
   */
  chunk?: number;
}

/**
 * sum[b] = Σ_t mask[b, t+1]·log softmax(logits[b, t])[labels[b, t+1]] and
 * count[b] = Σ_t mask[b, t+1]: the logits at position t score the token at
 * t + 1, so position 0 of labels and mask is never scored (it has no
 * preceding logits). Masked positions (prompt, image tokens, padding)
 * contribute nothing and their labels are not read, so an ignore index such
 * as −100 is fine there. An all-masked row gives sum 0 and count 0.
 *
 * logits [B, T, V] float; labels [B, T] int32; mask [B, T] bool or numeric
 * (other values than 0/1 act as weights). `sum` and `count` are [B] in the
 * logits' dtype; `sum` is differentiable with respect to the logits.
 */
export function sequenceLogps(
  logits: Tensor,
  labels: Tensor,
  mask: Tensor,
  opts: SequenceLogpsOptions = {},
): { sum: Tensor; count: Tensor } {
  checkInputs("sequenceLogps", logits, labels, mask);
  const [B, T, V] = logits.shape as [number, number, number];
  const weights = cast(slice(mask, [0, 1]), logits.dtype); // [B, T−1]: weight of the token each position predicts
  const count = sum(weights, 1);
  if (T < 2) return { sum: zeros([B], { dtype: logits.dtype, device: logits.device }), count };
  const targets = where(notEqual(weights, 0), slice(labels, [0, 1]), 0); // masked labels never index the vocabulary
  checkLabels(targets, V);
  let chunk = opts.chunk ?? Math.ceil((T - 1) / 8);
  if (!Number.isInteger(chunk) || chunk < 1) throw new AnchorError(`sequenceLogps: chunk must be a positive integer, got ${opts.chunk}`);
  chunk = Math.min(chunk, T - 1, Math.floor((2 ** 31 - 1) / V)); // flat int32 indices into a [chunk, V] slice
  return { sum: weightedTokenLogps(chunk)(logits, targets, weights), count };
}

/**
 * sum[b] = Σ_t mask[b, t+1]·Σ_v logits[b, t, v]: every logit at the positions
 * that sequenceLogps scores, [B] in the logits' dtype. TRL's logits/chosen is
 * this summed over the chosen rows and divided by their Σ count·V (its
 * `logits[loss_mask].mean()`). The vocabulary is summed first, so the only
 * temporary is [B, T]. A metric, not a loss: pass stopGradient(logits).
 */
export function completionLogitSums(logits: Tensor, mask: Tensor): Tensor {
  checkInputs("completionLogitSums", logits, null, mask);
  const [B, T] = logits.shape as [number, number, number];
  if (T < 2) return zeros([B], { dtype: logits.dtype, device: logits.device });
  const weights = cast(slice(mask, [0, 1]), logits.dtype); // [B, T−1], as in sequenceLogps
  return sum(mul(slice(sum(logits, 2), [0, 0], [B, T - 1]), weights), 1);
}

/** Shapes and dtypes of the inputs, errors naming `fn` and the input; `labels` null for a reduction that reads none. */
function checkInputs(fn: string, logits: Tensor, labels: Tensor | null, mask: Tensor): void {
  const named = [["logits", logits], ...(labels === null ? [] : [["labels", labels]]), ["mask", mask]] as [string, Tensor][];
  for (const [name, t] of named) {
    if (!(t instanceof Tensor)) throw new AnchorError(`${fn}: ${name} must be a Tensor, got ${t === null ? "null" : typeof t}`);
  }
  if (logits.ndim !== 3) throw new ShapeError(`${fn}: logits must be [B, T, V], got shape ${fmt(logits.shape)}`);
  if (!isFloat(logits.dtype)) throw new DTypeError(`${fn}: logits must be a float tensor, got ${logits.dtype}`);
  if (logits.shape[2] === 0) throw new ShapeError(`${fn}: logits ${fmt(logits.shape)} have an empty vocabulary axis`);
  const bt = logits.shape.slice(0, 2);
  for (const [name, t] of named.slice(1)) {
    if (t.ndim !== 2 || t.shape[0] !== bt[0] || t.shape[1] !== bt[1]) {
      throw new ShapeError(`${fn}: ${name} must be [B, T] = ${fmt(bt)} to match logits ${fmt(logits.shape)}, got ${fmt(t.shape)}`);
    }
  }
  if (labels !== null && labels.dtype !== "int32") throw new DTypeError(`${fn}: labels must be int32 token ids, got ${labels.dtype}`);
}

/** Name the first scored label outside the vocabulary (where labels can be read synchronously). */
function checkLabels(targets: Tensor, V: number): void {
  const ids = hostValues(targets);
  if (!ids) return;
  const width = targets.shape[1]!;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (id < 0 || id >= V) {
      throw new AnchorError(
        `sequenceLogps: labels[${Math.floor(i / width)}, ${(i % width) + 1}] = ${id} is scored by the mask but outside the vocabulary [0, ${V})`,
      );
    }
  }
}

/** [start, end) ranges of `step` positions covering [0, n). */
function chunks(n: number, step: number): [number, number][] {
  const out: [number, number][] = [];
  for (let s = 0; s < n; s += step) out.push([s, Math.min(s + step, n)]);
  return out;
}

const isConcrete = (...xs: Tensor[]): boolean => xs.every((x) => x.concrete() === x);

/** Run `fn` in a scope that frees its temporaries, unless an outer tape must keep them. */
const freeing = <T>(concrete: boolean, fn: () => T): T => (concrete ? scope(fn) : fn());

/** The n×n identity, [n, n] in `like`'s dtype and device. */
const eye = (n: number, like: Tensor): Tensor => {
  const i = arange(n, { device: like.device });
  return cast(equal(reshape(i, [n, 1]), reshape(i, [1, n])), like.dtype);
};

/**
 * The label logits at positions [s, e) of row b, [e − s]. The slice of
 * logits is [1, n, V]; gathering the n labels along V gives [1, n, n], whose
 * diagonal pairs each position with its own label (n² ≪ n·V, and no reshape
 * of the slice, which would copy it).
 */
function labelLogits(logits: Tensor, targets: Tensor, b: number, s: number, e: number): Tensor {
  const n = e - s;
  const x = slice(logits, [b, s, 0], [b + 1, e, logits.shape[2]!]);
  const all = gather(x, reshape(slice(targets, [b, s], [b + 1, e]), [n]), 2); // [1, n, n]: x[i, label_k]
  return gather(reshape(all, [n * n]), mul(arange(n, { device: logits.device }), n + 1), 0);
}

/** The custom-VJP primitive (logits, targets [B, T−1], weights [B, T−1]) -> weighted sums [B]. */
function weightedTokenLogps(chunk: number) {
  return customVjp(
    (logits, targets, weights) => {
      const [B, T] = logits.shape as [number, number, number];
      const lse = logsumexp(logits, -1); // [B, T]: the last position's is never used
      const picked = Array.from({ length: B }, (_, b) =>
        concat(
          chunks(T - 1, chunk).map(([s, e]) => scope(() => labelLogits(logits, targets, b, s, e))),
          0,
        ),
      );
      return sum(mul(sub(stack(picked), slice(lse, [0, 0], [B, T - 1])), weights), 1);
    },
    (g, [logits, targets, weights]) => {
      const [B, T, V] = logits!.shape as [number, number, number];
      const concrete = isConcrete(g, logits!, weights!);
      const rows = Array.from({ length: B }, (_, b) => {
        const pieces = chunks(T - 1, chunk).map(([s, e]) => freeing(concrete, () => chunkGrad(logits!, targets!, weights!, g, b, s, e)));
        pieces.push(zeros([1, 1, V], { dtype: logits!.dtype, device: logits!.device })); // the last position scores nothing
        const row = concat(pieces, 1);
        release(pieces, row, concrete);
        return row;
      });
      const grad = concat(rows, 0);
      release(rows, grad, concrete);
      return [grad, null, null];
    },
    "sequenceLogps",
  );
}

/** Dispose concrete `parts` now that `whole` holds their values (concat of one part returns the part itself). */
function release(parts: readonly Tensor[], whole: Tensor, concrete: boolean): void {
  if (concrete) for (const p of parts) if (p !== whole) p.dispose();
}

/**
 * ∂/∂logits of g[b]·Σ w·log p at positions [s, e) of row b, [1, n, V]:
 * w·g[b]·(onehot(label) − softmax). The one-hot part is a scatter of
 * diag(w·g[b]) [1, n, n] at the labels along V, which adds w_i·g[b] at
 * (i, label_i) and nothing elsewhere.
 */
function chunkGrad(logits: Tensor, targets: Tensor, weights: Tensor, g: Tensor, b: number, s: number, e: number): Tensor {
  const V = logits.shape[2]!,
    n = e - s;
  const x = slice(logits, [b, s, 0], [b + 1, e, V]);
  const w = mul(slice(weights, [b, s], [b + 1, e]), slice(g, [b], [b + 1])); // [1, n]
  const hits = scatterAdd(reshape(mul(eye(n, x), reshape(w, [n, 1])), [1, n, n]), reshape(slice(targets, [b, s], [b + 1, e]), [n]), 2, [
    1,
    n,
    V,
  ]);
  return sub(hits, mul(softmax(x, -1), reshape(w, [1, n, 1])));
}

/** Shape primitives (reshape, transpose, broadcastTo, slice, pad, concat) and composites. */
import { bind } from "../ir/trace.js";
import { broadcastToPrim, concatPrim, padPrim, reshapePrim, slicePrim, transposePrim } from "../prims/index.js";
import { promoteTypes } from "../tensor/dtype.js";
import { ShapeError } from "../tensor/errors.js";
import { checkShape, fmt, normAxis, sameShape, sizeOf, type Shape } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";
import { cast } from "./cast.js";

/** Reshape; one dimension may be -1 (inferred). */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const s = shape.slice();
  const hole = s.indexOf(-1);
  if (s.lastIndexOf(-1) !== hole) throw new ShapeError(`reshape: at most one -1 may be inferred, got ${fmt(shape)}`);
  if (hole >= 0) {
    const rest = sizeOf(s.filter((_, i) => i !== hole));
    if (rest === 0 || x.size % rest !== 0) throw new ShapeError(`reshape: cannot infer -1 in ${fmt(shape)} for ${fmt(x.shape)}`);
    s[hole] = x.size / rest;
  }
  checkShape(s, "reshape");
  return sameShape(s, x.shape) ? x : bind(reshapePrim, [x], { shape: s });
}

/** Permute axes; by default reverse them. Negative axes are allowed. */
export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  const p = perm ? perm.map((a) => normAxis(a, x.ndim, "transpose")) : [...Array(x.ndim).keys()].reverse();
  return p.every((a, i) => a === i) && p.length === x.ndim ? x : bind(transposePrim, [x], { perm: p });
}

/** Swap the last two axes. */
export const mT = (x: Tensor): Tensor => {
  const p = [...Array(x.ndim).keys()];
  [p[x.ndim - 2], p[x.ndim - 1]] = [p[x.ndim - 1]!, p[x.ndim - 2]!];
  return transpose(x, p);
};

export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  return sameShape(x.shape, shape) ? x : bind(broadcastToPrim, [x], { shape: checkShape(shape.slice(), "broadcastTo") });
}

/**
 * Contiguous slice: per axis, [start, end) with Python semantics (negative
 * counts from the end, out-of-range clamps). Missing trailing axes are whole.
 */
export function slice(x: Tensor, starts: readonly number[], ends?: readonly (number | undefined)[]): Tensor {
  if (starts.length > x.ndim) throw new ShapeError(`slice: ${starts.length} starts for a tensor of rank ${x.ndim} ${fmt(x.shape)}`);
  if (![...starts, ...(ends ?? [])].every((v) => v === undefined || Number.isInteger(v))) {
    throw new ShapeError(
      `slice: starts ${JSON.stringify(starts)} and ends ${JSON.stringify(ends)} must be integers (or undefined ends) for ${fmt(x.shape)}`,
    );
  }
  const clamp = (v: number, d: number) => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
  const s = x.shape.map((d, i) => clamp(starts[i] ?? 0, d));
  const e = x.shape.map((d, i) => Math.max(s[i]!, clamp(ends?.[i] ?? d, d)));
  if (s.every((v) => v === 0) && e.every((v, i) => v === x.shape[i])) return x;
  return bind(slicePrim, [x], { starts: s, ends: e });
}

/** Zero padding: widths[i] = [before, after] for axis i. */
export function pad(x: Tensor, widths: readonly (readonly [number, number])[]): Tensor {
  if (widths.every(([a, b]) => a === 0 && b === 0)) return x;
  return bind(padPrim, [x], { widths: widths.map(([a, b]) => [a, b] as [number, number]) });
}

export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new ShapeError("concat: needs at least one tensor");
  if (xs.length === 1) return xs[0]!;
  const dtype = xs.map((x) => x.dtype).reduce(promoteTypes);
  return bind(
    concatPrim,
    xs.map((x) => cast(x, dtype)),
    { axis: normAxis(axis, xs[0]!.ndim, "concat") },
  );
}

export function expandDims(x: Tensor, axis: number): Tensor {
  const a = normAxis(axis, x.ndim + 1, "expandDims");
  const s = x.shape.slice();
  s.splice(a, 0, 1);
  return reshape(x, s);
}

/** Remove size-1 axes (all of them, or the given ones). */
export function squeeze(x: Tensor, axis?: number | number[]): Tensor {
  const axes =
    axis === undefined
      ? x.shape.flatMap((d, i) => (d === 1 ? [i] : []))
      : (typeof axis === "number" ? [axis] : axis).map((a) => normAxis(a, x.ndim, "squeeze"));
  for (const a of axes) if (x.shape[a] !== 1) throw new ShapeError(`squeeze: axis ${a} of ${fmt(x.shape)} is not size 1`);
  return reshape(
    x,
    x.shape.filter((_, i) => !axes.includes(i)),
  );
}

export function stack(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new ShapeError("stack: needs at least one tensor");
  const a = normAxis(axis, xs[0]!.ndim + 1, "stack");
  const odd = xs.find((x) => !sameShape(x.shape, xs[0]!.shape));
  if (odd) throw new ShapeError(`stack: all shapes must be equal, got ${xs.map((x) => fmt(x.shape)).join(", ")}`);
  return concat(
    xs.map((x) => expandDims(x, a)),
    a,
  );
}

/** Split into equal parts (a number) or parts of the given sizes. */
export function split(x: Tensor, parts: number | readonly number[], axis = 0): Tensor[] {
  const a = normAxis(axis, x.ndim, "split");
  const d = x.shape[a]!;
  const sizes = typeof parts === "number" ? Array<number>(parts).fill(d / parts) : parts;
  if (sizes.some((s) => !Number.isInteger(s) || s < 0) || sizes.reduce((p, s) => p + s, 0) !== d) {
    throw new ShapeError(`split: cannot split axis ${a} of size ${d} of ${fmt(x.shape)} into ${JSON.stringify(parts)}`);
  }
  let off = 0;
  return sizes.map((s) => {
    const starts = x.shape.map((_, i) => (i === a ? off : 0));
    off += s;
    return slice(
      x,
      starts,
      x.shape.map((dd, i) => (i === a ? off : dd)),
    );
  });
}

export function flatten(x: Tensor): Tensor {
  return reshape(x, [x.size]);
}

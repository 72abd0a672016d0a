/** Shapes, strides, axes and NumPy broadcasting. */
import { ShapeError } from "./errors.js";

export type Shape = readonly number[];

export const fmt = (s: Shape): string => `[${s.join(", ")}]`;

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function stridesOf(shape: Shape): number[] {
  const st = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    st[i] = s;
    s *= shape[i]!;
  }
  return st;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function checkShape(shape: unknown, op: string): number[] {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new ShapeError(`${op}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  const n = shape.reduce((a: number, d: number) => a * d, 1);
  if (n > MAX_ELEMENTS) {
    throw new ShapeError(`${op}: shape ${fmt(shape)} has ${n} elements, over the ${MAX_ELEMENTS} a tensor may hold (int32 indexing)`);
  }
  return shape.slice();
}

/** The most elements one tensor may hold: kernels index with int32. */
export const MAX_ELEMENTS = 2 ** 31 - 1;

/** NumPy broadcasting of any number of shapes. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = rank - s.length + i;
      const d = s[i]!;
      if (d === out[o] || d === 1) continue;
      if (out[o] === 1) out[o] = d;
      else
        throw new ShapeError(
          `${op}: shapes ${shapes.map(fmt).join(" and ")} cannot be broadcast together (axis ${o - rank}: ${out[o]} vs ${d})`,
        );
    }
  }
  return out;
}

/**
 * Strides to read an input of `shape` as if broadcast to `outShape`
 * (0 on broadcast axes), aligned to outShape's rank.
 */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const st = stridesOf(shape);
  const off = outShape.length - shape.length;
  return outShape.map((_, i) => (i < off || shape[i - off] === 1 ? 0 : st[i - off]!));
}

/** Resolve a possibly negative axis against a rank, naming the op on error. */
export function normAxis(axis: number, rank: number, op: string): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new ShapeError(`${op}: axis ${axis} is out of range for rank ${rank}`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** Normalise an axis argument (undefined = all axes) to sorted unique axes. */
export function normAxes(axis: number | readonly number[] | undefined, rank: number, op: string): number[] {
  if (axis === undefined) return [...Array(rank).keys()];
  const list = (typeof axis === "number" ? [axis] : axis).map((a) => normAxis(a, rank, op));
  const uniq = [...new Set(list)].sort((a, b) => a - b);
  if (uniq.length !== list.length) throw new ShapeError(`${op}: repeated axis in ${JSON.stringify(axis)}`);
  return uniq;
}

/** The axes (and whether they were size 1) that broadcasting `from` to `to` expanded. */
export function broadcastedAxes(from: Shape, to: Shape): number[] {
  const off = to.length - from.length;
  const axes: number[] = [];
  for (let i = 0; i < to.length; i++) {
    if (i < off || (from[i - off] === 1 && to[i] !== 1)) axes.push(i);
  }
  return axes;
}

/** The matrix of a [..., rows, cols] operand as [rows, cols], swapped when it is read transposed. */
export function matrixDims(shape: Shape, transposed: boolean): [number, number] {
  const [r, c] = shape.slice(-2) as [number, number];
  return transposed ? [c, r] : [r, c];
}

export interface Collapsed {
  shape: number[];
  /** One stride list per operand, aligned with `shape`. */
  strides: number[][];
}

/**
 * Merge adjacent axes that every operand walks contiguously (and drop size-1
 * axes), so a [2,3,4] contiguous copy becomes one axis of 24. The element
 * order of the flat index is unchanged.
 */
export function collapse(shape: Shape, strides: readonly (readonly number[])[]): Collapsed {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let k = 0; k < shape.length; k++) {
    const d = shape[k]!;
    if (d === 1) continue;
    const last = outShape.length - 1;
    const mergeable = last >= 0 && strides.every((s, i) => outStrides[i]![last] === s[k]! * d);
    if (mergeable) {
      outShape[last] = outShape[last]! * d;
      strides.forEach((s, i) => (outStrides[i]![last] = s[k]!));
    } else {
      outShape.push(d);
      strides.forEach((s, i) => outStrides[i]!.push(s[k]!));
    }
  }
  return { shape: outShape, strides: outStrides };
}

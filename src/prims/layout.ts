/** Layout primitives: reshape, transpose, broadcastTo, slice, pad and concat. */
import { DTypeError, ShapeError } from "../tensor/errors.js";
import { broadcastShapes, fmt, sameShape, sizeOf } from "../tensor/shape.js";
import { definePrimitive } from "./primitive.js";

export const reshapePrim = definePrimitive({
  name: "reshape",
  infer([x], { shape }) {
    if (sizeOf(shape) !== sizeOf(x!.shape))
      throw new ShapeError(`reshape: cannot reshape ${fmt(x!.shape)} (${sizeOf(x!.shape)} elements) to ${fmt(shape)}`);
    return { shape: shape.slice(), dtype: x!.dtype };
  },
});

export const transposePrim = definePrimitive({
  name: "transpose",
  infer([x], { perm }) {
    const ok = perm.length === x!.shape.length && [...perm].sort((a, b) => a - b).every((p, i) => p === i);
    if (!ok) throw new ShapeError(`transpose: perm ${fmt(perm)} is not a permutation of the axes of ${fmt(x!.shape)}`);
    return { shape: perm.map((p) => x!.shape[p]!), dtype: x!.dtype };
  },
});

export const broadcastToPrim = definePrimitive({
  name: "broadcastTo",
  infer([x], { shape }) {
    const b = broadcastShapes("broadcastTo", x!.shape, shape);
    if (!sameShape(b, shape)) throw new ShapeError(`broadcastTo: cannot broadcast ${fmt(x!.shape)} to ${fmt(shape)}`);
    return { shape: shape.slice(), dtype: x!.dtype };
  },
});

export const slicePrim = definePrimitive({
  name: "slice",
  infer([x], { starts, ends }) {
    return { shape: x!.shape.map((_, i) => ends[i]! - starts[i]!), dtype: x!.dtype };
  },
});

export const padPrim = definePrimitive({
  name: "pad",
  infer([x], { widths }) {
    if (widths.length !== x!.shape.length || widths.flat().some((w) => !Number.isInteger(w) || w < 0)) {
      throw new ShapeError(`pad: widths ${JSON.stringify(widths)} must give [before, after] >= 0 for each axis of ${fmt(x!.shape)}`);
    }
    return { shape: x!.shape.map((d, i) => d + widths[i]![0] + widths[i]![1]), dtype: x!.dtype };
  },
});

export const concatPrim = definePrimitive({
  name: "concat",
  infer(xs, { axis }) {
    const first = xs[0]!;
    for (const x of xs) {
      if (x.dtype !== first.dtype) throw new DTypeError(`concat: dtypes differ: ${xs.map((t) => t.dtype).join(", ")}`);
      const ok = x.shape.length === first.shape.length && x.shape.every((d, i) => i === axis || d === first.shape[i]);
      if (!ok) throw new ShapeError(`concat: shapes ${xs.map((t) => fmt(t.shape)).join(", ")} differ outside axis ${axis}`);
    }
    const shape = first.shape.slice();
    shape[axis] = xs.reduce((n, x) => n + x.shape[axis]!, 0);
    return { shape, dtype: first.dtype };
  },
});

/**
 * Rotary position embeddings, "rotate-half" form (GPT-NeoX, LLaMA, Qwen):
 * channel i < d/2 is paired with channel i + d/2 and the pair is rotated by
 * angle pos · θ^(-2i/d):
 *
 *   rope(x) = x ⊙ cos + rotateHalf(x) ⊙ sin,  rotateHalf([x₁, x₂]) = [-x₂, x₁].
 */
import { add, mul, neg } from "../ops/elementwise.js";
import { concat, slice } from "../ops/shape.js";
import { fromStorage } from "../ops/create.js";
import { fromNumbers, type DType } from "../tensor/dtype.js";
import { ShapeError } from "../tensor/errors.js";
import { fmt } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";

/** cos and sin of the rotation angles, each [length, headDim]. */
export interface RopeTables {
  readonly cos: Tensor;
  readonly sin: Tensor;
}

/**
 * Tables for positions start .. start + length - 1. Angles are computed in
 * float64 and rounded once to `dtype`.
 */
export function ropeTables(
  start: number,
  length: number,
  headDim: number,
  theta: number,
  dtype: DType = "float32",
  device?: string,
): RopeTables {
  if (headDim % 2 !== 0) throw new ShapeError(`ropeTables: head dimension ${headDim} must be even`);
  const half = headDim / 2;
  const cos = new Float64Array(length * headDim),
    sin = new Float64Array(length * headDim);
  for (let t = 0; t < length; t++) {
    for (let i = 0; i < half; i++) {
      const angle = (start + t) * theta ** (-(2 * i) / headDim);
      const c = Math.cos(angle),
        s = Math.sin(angle);
      cos[t * headDim + i] = cos[t * headDim + i + half] = c;
      sin[t * headDim + i] = sin[t * headDim + i + half] = s;
    }
  }
  const make = (v: Float64Array) => fromStorage(fromNumbers(v, dtype), [length, headDim], dtype, device);
  return { cos: make(cos), sin: make(sin) };
}

/** [x₁, x₂] -> [-x₂, x₁] over the last axis. */
export function rotateHalf(x: Tensor): Tensor {
  const d = x.shape[x.ndim - 1]!,
    lead = x.shape.slice(0, -1).map(() => 0);
  const x1 = slice(x, [...lead, 0], [...x.shape.slice(0, -1), d / 2]);
  const x2 = slice(x, [...lead, d / 2]);
  return concat([neg(x2), x1], -1);
}

/** x [..., T, headDim] rotated by tables [T, headDim]. */
export function applyRope(x: Tensor, { cos, sin }: RopeTables): Tensor {
  const [T, d] = x.shape.slice(-2);
  if (cos.shape[0] !== T || cos.shape[1] !== d)
    throw new ShapeError(`applyRope: tables ${fmt(cos.shape)} do not match the last two axes of ${fmt(x.shape)}`);
  return add(mul(x, cos), mul(rotateHalf(x), sin));
}

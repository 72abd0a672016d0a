/**
 * Index geometry for the kernels: collapsing strided views to the fewest
 * axes, and the WGSL that turns a flat output index into operand offsets.
 */
import type { Shape } from "../../tensor/shape.js";

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

/**
 * WGSL statements that decompose `flat` over the dims at params
 * p(dimsAt .. dimsAt+rank-1) and accumulate into `vars[i]` the dot product
 * with strides at p(stridesAt[i] ..). Unrolled: rank is part of the shader key.
 */
export function offsetCode(flat: string, rank: number, dimsAt: number, vars: readonly string[], stridesAt: readonly number[]): string {
  const lines = vars.map((v) => `  var ${v} = 0u;`);
  if (rank > 0) lines.push(`  var rem = ${flat};`);
  for (let k = rank - 1; k >= 0; k--) {
    const coord = k === 0 ? "rem" : `(rem % p(${dimsAt + k}u))`;
    lines.push(`  { let c = ${coord};`);
    vars.forEach((v, i) => lines.push(`    ${v} = ${v} + c * p(${stridesAt[i]! + k}u);`));
    lines.push(k === 0 ? "  }" : `    rem = rem / p(${dimsAt + k}u); }`);
  }
  return lines.join("\n");
}

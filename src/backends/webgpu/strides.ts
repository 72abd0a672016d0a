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
 * Division by a runtime divisor without a divide instruction: software
 * Vulkan turns a vector u32 division into one scalar division per lane,
 * which dominated every broadcasting kernel. For n < 2^32 and d >= 2,
 * n / d = (t + ((n - t) >> 1)) >> shift with t = mulhi(magic, n)
 * (Hacker's Delight, 10-8). Returns [magic, shift].
 */
export function divMagic(d: number): [number, number] {
  const l = 32 - Math.clz32(d - 1); // ceil(log2 d)
  const magic = ((1n << 32n) * ((1n << BigInt(l)) - BigInt(d))) / BigInt(d) + 1n;
  return [Number(magic & 0xffffffffn), l - 1];
}

/** The high 32 bits of a 32×32-bit product, from 16-bit halves (WGSL has no 64-bit integers). */
export const MULHI_FN = `fn mulhi(a: u32, b: u32) -> u32 {
  let al = a & 0xffffu; let ah = a >> 16u; let bl = b & 0xffffu; let bh = b >> 16u;
  let t = ah * bl + ((al * bl) >> 16u);
  let w = (t & 0xffffu) + al * bh;
  return ah * bh + (t >> 16u) + (w >> 16u);
}`;

/** Params for offsetCode's divisions: [magic, shift] for dims 1..rank-1 (axis 0 is never divided by). */
export const divParams = (shape: readonly number[]): number[] => shape.slice(1).flatMap(divMagic);

/**
 * WGSL statements that decompose `flat` over the dims at params
 * p(dimsAt .. dimsAt+rank-1) and accumulate into `vars[i]` the dot product
 * with strides at p(stridesAt[i] ..). Divisions use the divParams(dims) at
 * p(magicAt ..), so the shader needs MULHI_FN. Unrolled: rank is part of
 * the shader key.
 */
export function offsetCode(flat: string, rank: number, dimsAt: number, vars: readonly string[], stridesAt: readonly number[], magicAt: number): string {
  const lines = vars.map((v) => `  var ${v} = 0u;`);
  if (rank > 0) lines.push(`  var rem = ${flat};`);
  for (let k = rank - 1; k >= 0; k--) {
    if (k === 0) {
      lines.push("  { let c = rem;");
    } else {
      const m = magicAt + 2 * (k - 1);
      lines.push(`  { let t = mulhi(p(${m}u), rem);`, `    let q = (t + ((rem - t) >> 1u)) >> p(${m + 1}u);`, `    let c = rem - q * p(${dimsAt + k}u);`);
    }
    vars.forEach((v, i) => lines.push(`    ${v} = ${v} + c * p(${stridesAt[i]! + k}u);`));
    lines.push(k === 0 ? "  }" : "    rem = q; }");
  }
  return lines.join("\n");
}

/**
 * Index geometry for the kernels: the WGSL that turns a flat output index
 * into operand offsets (views are first collapsed by tensor/shape.ts).
 */

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
export function offsetCode(
  flat: string,
  rank: number,
  dimsAt: number,
  vars: readonly string[],
  stridesAt: readonly number[],
  magicAt: number,
): string {
  const lines = vars.map((v) => `  var ${v} = 0u;`);
  if (rank > 0) lines.push(`  var rem = ${flat};`);
  for (let k = rank - 1; k >= 0; k--) {
    if (k === 0) {
      lines.push("  { let c = rem;");
    } else {
      const m = magicAt + 2 * (k - 1);
      lines.push(
        `  { let t = mulhi(p(${m}u), rem);`,
        `    let q = (t + ((rem - t) >> 1u)) >> p(${m + 1}u);`,
        `    let c = rem - q * p(${dimsAt + k}u);`,
      );
    }
    vars.forEach((v, i) => lines.push(`    ${v} = ${v} + c * p(${stridesAt[i]! + k}u);`));
    lines.push(k === 0 ? "  }" : "    rem = q; }");
  }
  return lines.join("\n");
}

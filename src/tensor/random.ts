/**
 * Counter-based random numbers (Philox-4x32-10, Salmon et al. 2011). The
 * value at flat index i depends only on (seed, i), so any backend, and any
 * slice of a tensor, reproduces the same numbers.
 */

const M0 = 0xd2511f53,
  M1 = 0xcd9e8d57,
  W0 = 0x9e3779b9,
  W1 = 0xbb67ae85;

/** High and low 32 bits of a 32x32-bit product. */
function mulhilo(a: number, b: number): [number, number] {
  const lo = Math.imul(a, b) >>> 0;
  const aH = a >>> 16,
    aL = a & 0xffff,
    bH = b >>> 16,
    bL = b & 0xffff;
  const mid1 = aH * bL,
    mid2 = aL * bH;
  const carry = ((aL * bL) / 65536 + (mid1 & 0xffff) + (mid2 & 0xffff)) / 65536;
  const hi = (aH * bH + Math.floor(mid1 / 65536) + Math.floor(mid2 / 65536) + Math.floor(carry)) >>> 0;
  return [hi, lo];
}

/** Philox-4x32-10 block for counter (c0, c1) and a 64-bit key from the seed. */
export function philox(seed: number, c0: number, c1: number): [number, number, number, number] {
  let k0 = seed >>> 0,
    k1 = Math.floor(seed / 2 ** 32) >>> 0;
  let x0 = c0 >>> 0,
    x1 = c1 >>> 0,
    x2 = 0,
    x3 = 0;
  for (let r = 0; r < 10; r++) {
    const [h0, l0] = mulhilo(M0, x0);
    const [h1, l1] = mulhilo(M1, x2);
    const n0 = (h1 ^ x1 ^ k0) >>> 0,
      n2 = (h0 ^ x3 ^ k1) >>> 0;
    x0 = n0;
    x1 = l1;
    x2 = n2;
    x3 = l0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  return [x0, x1, x2, x3];
}

const U53 = 2 ** -53;
/** Two 32-bit words -> uniform double in [0, 1). */
const toUnit = (a: number, b: number): number => ((a >>> 5) * 67108864 + (b >>> 6)) * U53;

/** n uniforms in [0, 1): element i uses counter block i. */
export function uniforms(seed: number, n: number, offset = 0): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const j = i + offset;
    const r = philox(seed, j % 2 ** 32, Math.floor(j / 2 ** 32));
    out[i] = toUnit(r[0], r[1]);
  }
  return out;
}

/** n standard normals (Box-Muller on the two uniforms of block i). */
export function normals(seed: number, n: number, offset = 0): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const j = i + offset;
    const r = philox(seed, j % 2 ** 32, Math.floor(j / 2 ** 32));
    const u1 = 1 - toUnit(r[0], r[1]); // (0, 1]
    const u2 = toUnit(r[2], r[3]);
    out[i] = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
  return out;
}

/** Derive an independent seed from a seed and a stream name or number. */
export function foldIn(seed: number, data: number | string): number {
  const d = typeof data === "number" ? data : [...data].reduce((h, c) => (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0, 7);
  const r = philox(seed, d >>> 0, 0x5eed);
  return r[0] + (r[1] & 0x1fffff) * 2 ** 32;
}

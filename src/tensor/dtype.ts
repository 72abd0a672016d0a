/**
 * Data types. float16 and bfloat16 are storage formats: values are kept as
 * 16-bit patterns and every op computes on them in float32, rounding the
 * result back (round-to-nearest-even), so conversions are exact both ways for
 * representable values.
 */
import { DTypeError } from "./errors.js";

export type DType = "float32" | "float64" | "float16" | "bfloat16" | "int32" | "bool";

export const DTYPES: readonly DType[] = ["float32", "float64", "float16", "bfloat16", "int32", "bool"];

export type StorageArray = Float32Array | Float64Array | Int32Array | Uint8Array | Uint16Array;

export function isFloat(dtype: DType): boolean {
  return dtype === "float32" || dtype === "float64" || dtype === "float16" || dtype === "bfloat16";
}

/** A 16-bit float that is stored, not computed in. */
export function isHalf(dtype: DType): boolean {
  return dtype === "float16" || dtype === "bfloat16";
}

export function byteSize(dtype: DType): number {
  switch (dtype) {
    case "float64":
      return 8;
    case "float32":
    case "int32":
      return 4;
    case "float16":
    case "bfloat16":
      return 2;
    case "bool":
      return 1;
  }
}

export function allocArray(dtype: DType, n: number): StorageArray {
  switch (dtype) {
    case "float64":
      return new Float64Array(n);
    case "float32":
      return new Float32Array(n);
    case "int32":
      return new Int32Array(n);
    case "float16":
    case "bfloat16":
      return new Uint16Array(n);
    case "bool":
      return new Uint8Array(n);
  }
}

export function assertDType(d: unknown, where: string): DType {
  if (typeof d === "string" && (DTYPES as readonly string[]).includes(d)) return d as DType;
  throw new DTypeError(`${where}: unknown dtype ${JSON.stringify(d)}; expected one of ${DTYPES.join(", ")}`);
}

// --- 16-bit float conversions -------------------------------------------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * float32 bits of x rounded to odd: truncated toward zero, with the last bit
 * set if anything was cut off. Rounding that to nearest even in a narrower
 * format (bfloat16, float16) gives the same bits as rounding x itself, while
 * rounding a double to nearest float32 first would round twice and can break
 * a tie the wrong way (1 + 2^-8 + 2^-30 must round up to bfloat16).
 */
function float32BitsRoundToOdd(x: number): number {
  f32[0] = x;
  if (f32[0] === x || Number.isNaN(x)) return u32[0]!;
  if (Math.abs(f32[0]!) > Math.abs(x)) u32[0] = u32[0]! - 1;
  return (u32[0]! | 1) >>> 0;
}

/** number -> bfloat16 bits, round to nearest even; NaN stays NaN. */
export function toBFloat16Bits(x: number): number {
  const bits = float32BitsRoundToOdd(x);
  if ((bits & 0x7fffffff) > 0x7f800000) return (bits >>> 16) | 0x40;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

export function fromBFloat16Bits(h: number): number {
  u32[0] = h << 16;
  return f32[0]!;
}

/** number -> IEEE half bits, round to nearest even, overflow to ±Inf. */
export function toFloat16Bits(x: number): number {
  const bits = float32BitsRoundToOdd(x);
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rem = mant & ((1 << shift) - 1);
    let out = mant >>> shift;
    if (rem > half || (rem === half && out & 1)) out++;
    return sign | out;
  }
  const rem = mant & 0x1fff;
  let out = (e << 10) | (mant >>> 13);
  if (rem > 0x1000 || (rem === 0x1000 && out & 1)) out++;
  return sign | out;
}

export function fromFloat16Bits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Decode any storage array to plain numbers (half formats expanded). */
export function toNumbers(arr: StorageArray, dtype: DType): Float64Array | StorageArray {
  if (dtype === "float16") return Float32Array.from(arr as Uint16Array, fromFloat16Bits);
  if (dtype === "bfloat16") return Float32Array.from(arr as Uint16Array, fromBFloat16Bits);
  return arr;
}

/** Encode plain numbers into the storage array of `dtype`. */
export function fromNumbers(values: ArrayLike<number>, dtype: DType): StorageArray {
  const out = allocArray(dtype, values.length);
  if (dtype === "float16") for (let i = 0; i < values.length; i++) out[i] = toFloat16Bits(values[i]!);
  else if (dtype === "bfloat16") for (let i = 0; i < values.length; i++) out[i] = toBFloat16Bits(values[i]!);
  else if (dtype === "bool") for (let i = 0; i < values.length; i++) out[i] = values[i] ? 1 : 0;
  else (out as Float64Array).set(values);
  return out;
}

/**
 * JAX's type-promotion lattice for the dtypes we have:
 * bool < int32 < {bfloat16, float16} < float32 < float64, where float16 and
 * bfloat16 meet at float32. The result of an op on two tensors of dtypes a
 * and b is their least upper bound.
 */
export function promoteTypes(a: DType, b: DType): DType {
  if (a === b) return a;
  const rank: Record<DType, number> = { bool: 0, int32: 1, bfloat16: 2, float16: 2, float32: 3, float64: 4 };
  if (rank[a] === rank[b]) return "float32"; // float16 with bfloat16
  return rank[a] > rank[b] ? a : b;
}

/**
 * The dtype of `t ∘ v` for a JS number v, which is weakly typed as in JAX:
 * it never widens a float tensor, an integer-valued number keeps an int
 * tensor int (and makes a bool tensor int32), and a fractional one makes an
 * int or bool tensor float32 (the default float).
 */
export function promoteWeak(t: DType, v: number): DType {
  if (isFloat(t)) return t;
  if (!Number.isInteger(v)) return "float32";
  return t === "bool" ? "int32" : t;
}

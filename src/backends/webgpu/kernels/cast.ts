/**
 * cast: between float32, int32, bool and the 16-bit storage formats.
 * Half values are decoded to f32 and encoded back with integer bit
 * arithmetic, round-to-nearest-even, exactly as the CPU does (WGSL's
 * pack2x16float leaves the rounding to the implementation). Float to int32
 * truncates toward zero; anything to bool tests != 0 (NaN is true).
 */
import type { DType } from "../../../tensor/dtype.js";
import { sizeOf } from "../../../tensor/shape.js";
import type { GpuBuffer } from "../runtime.js";
import { decl, deviceBytes, entryLoop, isPacked16, loopGroups, paramsDecl, storageType } from "../wgsl.js";
import type { GpuKernel } from "./types.js";

const WG = 256;

const HALF_CODEC = `
fn f16_to_f32(h: u32) -> f32 {
  let neg = (h & 0x8000u) != 0u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0u) { let v = f32(m) * 5.9604644775390625e-8; return select(v, -v, neg); }
  let s = select(0u, 0x80000000u, neg);
  if (e == 31u) { return bitcast<f32>(s | 0x7f800000u | (m << 13u)); }
  return bitcast<f32>(s | ((e + 112u) << 23u) | (m << 13u));
}
fn f32_to_f16(x: f32) -> u32 {
  let bits = bitcast<u32>(x);
  let sgn = (bits >> 16u) & 0x8000u;
  let ex = (bits >> 23u) & 0xffu;
  var mant = bits & 0x7fffffu;
  if (ex == 0xffu) { return sgn | 0x7c00u | select(0u, 0x200u, mant != 0u); }
  let e = i32(ex) - 112;
  if (e >= 31) { return sgn | 0x7c00u; }
  if (e <= 0) {
    if (e < -10) { return sgn; }
    mant = mant | 0x800000u;
    let shift = u32(14 - e);
    let half = 1u << (shift - 1u);
    let rem = mant & ((1u << shift) - 1u);
    var o = mant >> shift;
    if (rem > half || (rem == half && (o & 1u) == 1u)) { o = o + 1u; }
    return sgn | o;
  }
  let rem = mant & 0x1fffu;
  var o = (u32(e) << 10u) | (mant >> 13u);
  if (rem > 0x1000u || (rem == 0x1000u && (o & 1u) == 1u)) { o = o + 1u; }
  return sgn | o;
}
fn bf16_to_f32(h: u32) -> f32 { return bitcast<f32>(h << 16u); }
fn f32_to_bf16(x: f32) -> u32 {
  let bits = bitcast<u32>(x);
  if ((bits & 0x7fffffffu) > 0x7f800000u) { return (bits >> 16u) | 0x40u; }
  return ((bits + 0x7fffu + ((bits >> 16u) & 1u)) >> 16u) & 0xffffu;
}
`;

/** WGSL expression for element `i` of the input, as f32 (floats), i32 (int32) or u32 (bool). */
function load(dtype: DType, i: string): string {
  switch (dtype) {
    case "float16":
      return `f16_to_f32((In[${i} >> 1u] >> ((${i} & 1u) * 16u)) & 0xffffu)`;
    case "bfloat16":
      return `bf16_to_f32((In[${i} >> 1u] >> ((${i} & 1u) * 16u)) & 0xffffu)`;
    default:
      return `In[${i}]`;
  }
}

/** Convert a loaded value `v` of input dtype `from` to the stored value of `to` (16-bit: the bit pattern). */
export function convert(from: DType, to: DType, v: string): string {
  const zero = from === "int32" ? "0" : from === "bool" ? "0u" : "0.0";
  switch (to) {
    case "float32":
      return `f32(${v})`;
    case "int32":
      return `i32(${v})`;
    case "bool":
      return `select(0u, 1u, ${v} != ${zero})`;
    case "float16":
      return `f32_to_f16(f32(${v}))`;
    case "bfloat16":
      return `f32_to_bf16(f32(${v}))`;
    case "float64":
      throw new Error("unreachable: float64 is refused by storageType");
  }
}

export const cast: GpuKernel<"cast"> = (rt, [x], _p, out) => {
  const from = x!.dtype,
    to = out.dtype,
    n = sizeOf(out.shape);
  const o = rt.alloc(deviceBytes(to, n, "cast"), "the output of cast");
  const packed = isPacked16(to);
  const body = packed
    ? // one invocation per output word: elements 2w and 2w+1
      `  let n = p(0u);
  let i0 = idx * 2u;
  let lo = ${convert(from, to, load(from, "i0"))};
  var hi = 0u;
  if (i0 + 1u < n) { let i1 = i0 + 1u; hi = ${convert(from, to, load(from, "i1"))}; }
  Out[idx] = lo | (hi << 16u);`
    : `  Out[idx] = ${convert(from, to, load(from, "idx"))};`;
  rt.dispatch({
    name: "cast",
    key: `cast:${from}>${to}`,
    wgsl: () =>
      [
        decl(0, "In", storageType(from, "cast"), "read"),
        decl(1, "Out", storageType(to, "cast"), "read_write"),
        paramsDecl(2, 1),
        HALF_CODEC,
        entryLoop(WG, packed ? "(p(0u) + 1u) / 2u" : "p(0u)", body),
      ].join("\n"),
    bindings: [
      { buf: (x!.buf as GpuBuffer).buffer, access: "read" },
      { buf: o.buffer, access: "read_write" },
    ],
    params: [n],
    workgroups: loopGroups(packed ? Math.ceil(n / 2) : n, WG),
  });
  return o;
};

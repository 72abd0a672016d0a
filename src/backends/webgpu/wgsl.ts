/**
 * WGSL building blocks shared by the kernels: how each dtype is stored,
 * binding declarations, the uniform parameter block, the global invocation
 * index over a tiled grid, and the math helpers the op rows call.
 *
 * Storage: float32 as f32, int32 as i32, bool as one u32 (0 or 1) per element,
 * float16/bfloat16 as raw 16-bit patterns packed two per u32. Half formats are
 * storage only: the core computes every op on them in float32 (see
 * autograd/trace.ts), so the only kernel that touches their bits is `cast`.
 * WGSL has no f64, so float64 is refused with an error naming the op.
 */
import type { DType } from "../../tensor/dtype.js";
import { DTypeError } from "../../tensor/errors.js";
import type { Access } from "./pipelines.js";

/** The WGSL scalar type one element is stored as (half formats: packed u32 words). */
export function storageType(dtype: DType, op: string): "f32" | "i32" | "u32" {
  switch (dtype) {
    case "float32":
      return "f32";
    case "int32":
      return "i32";
    case "bool":
    case "float16":
    case "bfloat16":
      return "u32";
    case "float64":
      throw new DTypeError(
        `${op}: float64 is not supported on webgpu (WGSL has no 64-bit floats); cast to float32 first, or use the cpu backend`,
      );
  }
}

/** Bytes a tensor of `size` elements of `dtype` occupies on the device. */
export function deviceBytes(dtype: DType, size: number, op: string): number {
  storageType(dtype, op);
  return dtype === "float16" || dtype === "bfloat16" ? Math.ceil(size / 2) * 4 : size * 4;
}

export const isPacked16 = (dtype: DType): boolean => dtype === "float16" || dtype === "bfloat16";

/** `@group(0) @binding(i) var<storage, access> name: array<type>;` */
export function decl(i: number, name: string, type: string, access: Access): string {
  return `@group(0) @binding(${i}) var<storage, ${access}> ${name}: array<${type}>;`;
}

/** The uniform block at @binding(i): `p(k)` reads the k-th u32 parameter. */
export function paramsDecl(i: number, words: number): string {
  const vecs = Math.max(1, Math.ceil(words / 4));
  return `struct Params { w: array<vec4<u32>, ${vecs}> }
@group(0) @binding(${i}) var<uniform> P: Params;
fn p(k: u32) -> u32 { return P.w[k >> 2u][k & 3u]; }`;
}

/**
 * Entry point over a 1-D index space tiled as a 2-D grid of workgroups
 * (needed past 65535 workgroups): `idx` is the flat invocation index.
 */
export function entry1d(wg: number, body: string): string {
  return `@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let idx = (wid.x + wid.y * nwg.x) * ${wg}u + lid;
${body}
}`;
}

/** Workgroups needed to cover `n` invocations at size `wg`. */
export const groups = (n: number, wg: number): number => Math.ceil(n / wg);

/**
 * Grid-stride loops: at most this many workgroups, each invocation taking
 * every (total invocations)-th item. Enough to fill a large GPU; on software
 * Vulkan every workgroup has a fixed cost, so one item per invocation over
 * millions of items spent most of its time starting workgroups.
 */
const MAX_LOOP_GROUPS = 1024;
export const loopGroups = (n: number, wg: number): number => Math.min(groups(n, wg), MAX_LOOP_GROUPS);

/** Entry point running `body` for every `idx` in [0, limit) in a grid-stride loop (launch loopGroups workgroups). */
export function entryLoop(wg: number, limit: string, body: string): string {
  return `@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let stride = nwg.x * nwg.y * ${wg}u;
  let end = ${limit};
  for (var idx = (wid.x + wid.y * nwg.x) * ${wg}u + lid; idx < end; idx += stride) {
${body}
  }
}`;
}

/**
 * Helpers the op rows refer to. erf_f32: Taylor series below |x| = 0.5, the
 * Chebyshev-fitted erfc of Numerical Recipes above (max abs error 3e-8 in
 * double, so f32 rounding dominates). pow_signed matches Math.pow for
 * negative bases with integer exponents (NaN for other negative bases).
 */
export const BITS_FN = `// a function, not an expression: WGSL rejects constant infinities and NaNs
fn f32_bits(u: u32) -> f32 { return bitcast<f32>(u); }`;

export const PRELUDE = `${BITS_FN}
fn erf_f32(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0.5) {
    let t = x * x;
    return x * (1.1283791670955126 + t * (-0.37612638903183754 + t * (0.11283791670955126 + t * (-0.026866170645131252 + t * (0.005223977625442188 + t * -0.0008548327023450852)))));
  }
  let t = 1.0 / (1.0 + 0.5 * a);
  let y = t * exp(-a * a - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return sign(x) * (1.0 - y);
}
fn pow_signed(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  if (a >= 0.0) {
    if (a == 0.0) { return select(f32_bits(0x7f800000u), 0.0, b > 0.0); }
    return exp2(b * log2(a));
  }
  if (b != floor(b)) { return f32_bits(0x7fc00000u); }
  let m = exp2(b * log2(-a));
  return select(m, -m, (i32(b) & 1) == 1);
}
`;

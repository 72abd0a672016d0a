/**
 * Tiled batched matmul for large shapes and for 16-bit storage: each
 * workgroup computes a BM × BN tile of C, staging BM × BK slices of A and
 * BK × BN slices of B in workgroup memory (widened to f32 there), and each
 * invocation keeps a TM × TN block of C in registers, so every value read
 * from workgroup memory feeds TM or TN multiply-adds and every value read
 * from global memory feeds BM or BN of them.
 *
 * Why it exists beside the direct kernel (matmul.ts): on a GPU, reading A
 * and B straight from storage for every block re-reads each value from L2
 * N/TN (or M/TM) times; at n ≥ 1024 the direct kernel is memory bound while
 * this one is compute bound. On software Vulkan (lavapipe) workgroup memory
 * is ordinary memory and every barrier is a thread switch, so there the
 * direct kernel stays the f32 default (see `chooseMatmulKernel`).
 *
 * Invocation (tx, ty) owns rows ty + WGY·r and columns tx + WGX·c of the
 * tile (strided, not contiguous): neighbouring invocations then read
 * neighbouring B values from workgroup memory (no bank conflicts), share the
 * A value (a broadcast), and store neighbouring columns of C (coalesced).
 *
 * Storage formats, chosen per operand when the shader is built:
 * - float32: `array<f32>`;
 * - float16 on an adapter with `shader-f16`: `array<f16>`, read natively;
 * - float16 without it: packed `array<u32>` words, widened with
 *   `unpack2x16float` (core WGSL);
 * - bfloat16: packed `array<u32>` words, widened by a 16-bit shift (WGSL has
 *   no bf16 type on any adapter).
 * Accumulation is always f32. A half output is written as f32 and rounded
 * once by the cast kernel (round-to-nearest-even, bit-identical to the
 * cpu's cast), so the only difference from the cpu is summation order.
 *
 * Transposed operands are read through their strides (no copy), and edges
 * are zero-filled on load and skipped on store, so no shape needs padding.
 */
import { AnchorError } from "../../../tensor/errors.js";
import type { DType } from "../../../tensor/dtype.js";
import { broadcastStrides, sizeOf } from "../../../tensor/shape.js";
import type { OutSpec } from "../../backend.js";
import type { GpuBuffer, Runtime } from "../runtime.js";
import { decl, paramsDecl } from "../wgsl.js";
import { cast } from "./cast.js";
import type { GpuRef } from "./types.js";

/** The tile a workgroup computes and how it is split. BM = wgy·tm, BN = wgx·tn. */
export interface TileShape {
  readonly bm: number;
  readonly bn: number;
  readonly bk: number;
  readonly tm: number;
  readonly tn: number;
  readonly wgx: number;
  readonly wgy: number;
}

/**
 * Tiles from largest to smallest. 128 × 128 with 8 × 8 register blocks is
 * the classic shape for a GPU with 64 KB+ of shared memory per SM (16 KB of
 * workgroup memory here, WebGPU's guaranteed minimum); 64 × 64 with 4 × 4
 * halves the waste on shapes between 64 and 128 and fits smaller devices;
 * 32 × 32 from an 8 × 8 workgroup is the fallback for adapters that allow
 * few invocations (compatibility mode guarantees 128) and for small outputs.
 */
export const TILES: readonly TileShape[] = [
  { bm: 128, bn: 128, bk: 16, tm: 8, tn: 8, wgx: 16, wgy: 16 },
  { bm: 64, bn: 64, bk: 16, tm: 4, tn: 4, wgx: 16, wgy: 16 },
  { bm: 32, bn: 32, bk: 16, tm: 4, tn: 4, wgx: 8, wgy: 8 },
];

/** Workgroup memory a tile needs: two f32 slices. */
export const tileBytes = (t: TileShape): number => (t.bm * t.bk + t.bk * t.bn) * 4;

/** How one operand is stored, which decides its binding type and load expression. */
export type OperandFormat = "f32" | "f16" | "f16-packed" | "bf16-packed";

let nativeF16: boolean | null = null;
/**
 * Tests: read float16 as if the adapter lacked `shader-f16` (false), or
 * natively (true, only valid where it has it); null follows the adapter.
 */
export function setNativeF16(on: boolean | null): void {
  nativeF16 = on;
}

/**
 * The format the kernel reads a `dtype` operand in on this adapter: native
 * f16 needs the device to have been created with `shader-f16` (device.ts
 * requests it whenever the adapter offers it).
 */
export function operandFormat(dtype: DType, features: readonly string[]): OperandFormat {
  switch (dtype) {
    case "float32":
      return "f32";
    case "float16":
      return (nativeF16 ?? features.includes("shader-f16")) ? "f16" : "f16-packed";
    case "bfloat16":
      return "bf16-packed";
    default:
      throw new AnchorError(`matmul (tiled): no storage format for ${dtype} operands; expected float32, float16 or bfloat16`);
  }
}

/**
 * The largest tile the adapter's limits allow whose footprint the output
 * fills at least half of in both directions (a 128 × 128 tile over a 70-row
 * output would leave most invocations idle).
 */
export function pickTile(limits: Runtime["limits"], M: number, N: number): TileShape {
  const fits = TILES.filter(
    (t) =>
      tileBytes(t) <= limits.maxComputeWorkgroupStorageSize &&
      t.wgx * t.wgy <= limits.maxComputeInvocationsPerWorkgroup &&
      t.wgx <= limits.maxComputeWorkgroupSizeX &&
      t.wgy <= limits.maxComputeWorkgroupSizeY,
  );
  if (fits.length === 0)
    throw new AnchorError(
      `matmul (tiled): no tile fits this adapter (maxComputeWorkgroupStorageSize ${limits.maxComputeWorkgroupStorageSize}, maxComputeInvocationsPerWorkgroup ${limits.maxComputeInvocationsPerWorkgroup})`,
    );
  return fits.find((t) => M >= t.bm / 2 && N >= t.bn / 2) ?? fits[fits.length - 1]!;
}

const range = (n: number) => [...Array(n).keys()];

function bindingType(f: OperandFormat): string {
  return f === "f32" ? "f32" : f === "f16" ? "f16" : "u32";
}

/** WGSL expression for element `i` of operand `name` as f32. */
function loadExpr(f: OperandFormat, name: string, i: string): string {
  switch (f) {
    case "f32":
      return `${name}[${i}]`;
    case "f16":
      return `f32(${name}[${i}])`;
    case "f16-packed":
      return `unpack2x16float(${name}[(${i}) >> 1u])[(${i}) & 1u]`;
    case "bf16-packed":
      return `bitcast<f32>(((${name}[(${i}) >> 1u] >> (((${i}) & 1u) * 16u)) & 0xffffu) << 16u)`;
  }
}

/**
 * params: 0 M, 1 K, 2 N, 3 batch base, 4 A's row stride, 5 A's k stride,
 * 6 B's k stride, 7 B's column stride, then dims[r], aStrides[r], bStrides[r]
 * (batch strides in elements, 0 along broadcast axes).
 */
const FIXED_PARAMS = 8;

export function tiledShader(t: TileShape, fa: OperandFormat, fb: OperandFormat, batchRank: number): string {
  const { bm, bn, bk, tm, tn, wgx, wgy } = t;
  const threads = wgx * wgy;
  if (bm !== wgy * tm || bn !== wgx * tn || (bm * bk) % threads !== 0 || (bk * bn) % threads !== 0)
    throw new AnchorError(`matmul (tiled): inconsistent tile ${JSON.stringify(t)}`);
  const dims = FIXED_PARAMS,
    aSt = dims + batchRank,
    bSt = dims + 2 * batchRank;
  const batchCode = range(batchRank)
    .reverse()
    .map(
      (k) =>
        `  { let c = ${k === 0 ? "rem" : `rem % p(${dims + k}u)`}; aOff += c * p(${aSt + k}u); bOff += c * p(${bSt + k}u); ${k === 0 ? "" : `rem = rem / p(${dims + k}u);`} }`,
    )
    .join("\n");
  const R = range(tm),
    C = range(tn);
  const loadA = range((bm * bk) / threads)
    .map(
      (i) => `    {
      let e = li + ${i * threads}u;
      let m = e / ${bk}u; let kk = e % ${bk}u;
      let gm = row0 + m; let gk = k0 + kk;
      var v = 0.0;
      if (gm < M && gk < K) { v = ${loadExpr(fa, "A", "aOff + gm * sAm + gk * sAk")}; }
      As[kk * ${bm}u + m] = v;
    }`,
    )
    .join("\n");
  const loadB = range((bk * bn) / threads)
    .map(
      (i) => `    {
      let e = li + ${i * threads}u;
      let kk = e / ${bn}u; let n = e % ${bn}u;
      let gk = k0 + kk; let gn = col0 + n;
      var v = 0.0;
      if (gk < K && gn < N) { v = ${loadExpr(fb, "B", "bOff + gk * sBk + gn * sBn")}; }
      Bs[kk * ${bn}u + n] = v;
    }`,
    )
    .join("\n");
  const needsF16 = fa === "f16" || fb === "f16";
  return `${needsF16 ? "enable f16;\n" : ""}${decl(0, "A", bindingType(fa), "read")}
${decl(1, "B", bindingType(fb), "read")}
${decl(2, "Out", "f32", "read_write")}
${paramsDecl(3, FIXED_PARAMS + 3 * batchRank)}
var<workgroup> As: array<f32, ${bm * bk}>;
var<workgroup> Bs: array<f32, ${bk * bn}>;
@compute @workgroup_size(${wgx}, ${wgy})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let M = p(0u); let K = p(1u); let N = p(2u);
  let sAm = p(4u); let sAk = p(5u); let sBk = p(6u); let sBn = p(7u);
  let t = wid.z + p(3u);
  var aOff = 0u; var bOff = 0u;
  var rem = t;
${batchCode}
  let row0 = wid.y * ${bm}u; let col0 = wid.x * ${bn}u;
${R.map((r) => `  var acc${r}: array<f32, ${tn}>;`).join("\n")}
  for (var k0 = 0u; k0 < K; k0 += ${bk}u) {
${loadA}
${loadB}
    workgroupBarrier();
    for (var kk = 0u; kk < ${bk}u; kk++) {
${C.map((c) => `      let b${c} = Bs[kk * ${bn}u + lid.x + ${c * wgx}u];`).join("\n")}
${R.map((r) => `      { let a = As[kk * ${bm}u + lid.y + ${r * wgy}u];\n${C.map((c) => `        acc${r}[${c}] = fma(a, b${c}, acc${r}[${c}]);`).join("\n")} }`).join("\n")}
    }
    workgroupBarrier();
  }
  let oOff = t * M * N;
${R.map(
  (r) => `  { let gm = row0 + lid.y + ${r * wgy}u;
    if (gm < M) {
${C.map((c) => `      { let gn = col0 + lid.x + ${c * wgx}u; if (gn < N) { Out[oOff + gm * N + gn] = acc${r}[${c}]; } }`).join("\n")}
    } }`,
).join("\n")}
}`;
}

/**
 * a @ b with the tiled kernel; a is [..., M, K] (or [..., K, M] with
 * transposeA), b is [..., K, N] (or [..., N, K] with transposeB). Inputs may
 * be float32, float16 or bfloat16; a half output is rounded once from f32.
 */
export function tiledMatmul(rt: Runtime, a: GpuRef, b: GpuRef, transposeA: boolean, transposeB: boolean, out: OutSpec): GpuBuffer {
  const [ar, ac] = a.shape.slice(-2) as [number, number];
  const [br, bc] = b.shape.slice(-2) as [number, number];
  const [M, K] = transposeA ? [ac, ar] : [ar, ac];
  const N = transposeB ? br : bc;
  const batchShape = out.shape.slice(0, -2);
  const batch = sizeOf(batchShape);
  const total = sizeOf(out.shape);
  const f32Out = rt.alloc(total * 4, "the output of matmul");
  if (K === 0) {
    rt.clear(f32Out.buffer, 0, total * 4);
  } else {
    const features = rt.handle.features;
    const fa = operandFormat(a.dtype, features),
      fb = operandFormat(b.dtype, features);
    const tile = pickTile(rt.limits, M, N);
    // batch strides in elements (0 along broadcast axes), over the output's batch axes
    const batchStrides = (shape: readonly number[], mat: number) => broadcastStrides(shape.slice(0, -2), batchShape).map((s) => s * mat);
    const aS = batchStrides(a.shape, M * K),
      bS = batchStrides(b.shape, K * N);
    const [sAm, sAk] = transposeA ? [1, M] : [K, 1];
    const [sBk, sBn] = transposeB ? [1, K] : [N, 1];
    const rank = batchShape.length;
    const gx = Math.ceil(N / tile.bn),
      gy = Math.ceil(M / tile.bm);
    const maxDim = rt.limits.maxComputeWorkgroupsPerDimension;
    if (gx > maxDim || gy > maxDim)
      throw new AnchorError(
        `matmul: output ${M}×${N} needs ${gy}×${gx} workgroups of ${tile.bm}×${tile.bn}, more than maxComputeWorkgroupsPerDimension (${maxDim}); split the matrix`,
      );
    for (let base = 0; base < batch; base += maxDim) {
      rt.dispatch({
        name: "matmul",
        key: `matmul-tiled:${fa}:${fb}:${rank}:${tile.bm}x${tile.bn}x${tile.bk}`,
        wgsl: () => tiledShader(tile, fa, fb, rank),
        bindings: [
          { buf: a.buf.buffer, access: "read" },
          { buf: b.buf.buffer, access: "read" },
          { buf: f32Out.buffer, access: "read_write" },
        ],
        params: [M, K, N, base, sAm, sAk, sBk, sBn, ...batchShape, ...aS, ...bS],
        workgroups: [gx, gy, Math.min(maxDim, batch - base)],
      });
    }
  }
  if (out.dtype === "float32") return f32Out;
  try {
    return cast(rt, [{ buf: f32Out, shape: out.shape, dtype: "float32" }], { dtype: out.dtype }, out);
  } finally {
    rt.free(f32Out);
  }
}

/**
 * Batched matmul with NumPy batch broadcasting, register-blocked: each
 * invocation computes a TM × TN block of outputs (TN in vec4 columns), so
 * every value loaded feeds several multiply-adds.
 *
 * The block shape is chosen for software Vulkan (lavapipe), where a
 * workgroup is a CPU thread and invocations are SIMD lanes: loads are
 * gathers, workgroup memory is ordinary memory and barriers are costly, so
 * the kernel reads A and B straight from storage (the CPU caches do the
 * tiling) and keeps the block in registers. When K and N are multiples of 4
 * the rows are read as vec4; otherwise a scalar path with clamped loads runs.
 * Rows and columns past the edge are clamped on load and skipped on store,
 * so no shape needs padding. A transposed operand is first copied with its
 * last two axes swapped (one pass over it, against M·N·K multiply-adds).
 */
import { isSoftwareAdapter } from "../device.js";
import { isHalf, type DType } from "../../../tensor/dtype.js";
import { broadcastStrides, sizeOf } from "../../../tensor/shape.js";
import { AnchorError } from "../../../tensor/errors.js";
import type { OutSpec } from "../../backend.js";
import type { GpuBuffer, Runtime } from "../runtime.js";
import type { ParamsOf, PointwiseProgram } from "../../../prims/index.js";
import { PRELUDE, decl, deviceBytes, paramsDecl } from "../wgsl.js";
import { epilogueWgsl, fusedName } from "./fused.js";
import { transpose } from "./layout.js";
import { tiledMatmul } from "./matmul-tiled.js";
import type { GpuKernel, GpuRef } from "./types.js";

export interface MatmulTiling {
  /** Output rows per invocation. */
  tm: number;
  /** Output vec4 columns per invocation. */
  tn4: number;
  /** Workgroup size along columns and rows. */
  wgx: number;
  wgy: number;
}

/**
 * Software Vulkan: one row of 64 invocations shares its rows, so loads of A
 * are uniform across the workgroup (one scalar load, not a gather), and each
 * invocation keeps a 4 × 4 block. Measured on llvmpipe at 1024³ against
 * other shapes (2-8 rows, 1-4 vec4 columns, 8×8 and 32-256 wide groups).
 */
export const CPU_TILING: MatmulTiling = { tm: 4, tn4: 1, wgx: 64, wgy: 1 };
/** Hardware GPUs: a 16 × 16 workgroup of 4 × 4 blocks (64 × 64 outputs). */
export const GPU_TILING: MatmulTiling = { tm: 4, tn4: 1, wgx: 16, wgy: 16 };

let override: MatmulTiling | null = null;
/** Force a block shape (benchmarks and tuning on a new device); null restores the default. */
export function setMatmulTiling(t: MatmulTiling | null): void {
  override = t;
}

/**
 * The block shape for an output N columns wide. On software Vulkan the
 * workgroup narrows to the columns there are (at least 8 lanes, one SIMD
 * batch): with 64 invocations of 4 columns, N = 64 (an attention head's
 * width) left three quarters of them computing clamped duplicates; 16 are
 * 4× faster there (measured on llvmpipe, [8, 256, 256] @ [8, 256, 64]).
 */
function tilingFor(rt: Runtime, N: number): MatmulTiling {
  if (override) return override;
  if (!isSoftwareAdapter(rt.handle)) return GPU_TILING;
  const lanes = Math.ceil(N / (CPU_TILING.tn4 * 4));
  return { ...CPU_TILING, wgx: Math.min(CPU_TILING.wgx, Math.max(8, 2 ** Math.ceil(Math.log2(lanes)))) };
}

const range = (n: number) => [...Array(n).keys()];

/**
 * params: 0 M, 1 K, 2 N, 3 batch base, 4 batch rank r, then dims[r], aStrides[r], bStrides[r].
 * With `epilogue` (epilogueWgsl's code, its inputs bound from 3 on), each element is stored as
 * epilogue(its flat index, the product).
 */
function shader(tl: MatmulTiling, vec: boolean, batchRank: number, epilogue?: { wgsl: string; bindings: number }): string {
  const { tm, tn4, wgx, wgy } = tl;
  const R = range(tm),
    C = range(tn4);
  const batchDims = 5,
    aSt = 5 + batchRank,
    bSt = 5 + 2 * batchRank;
  const batchCode = range(batchRank)
    .reverse()
    .map(
      (k) =>
        `  { let c = ${k === 0 ? "rem" : `rem % p(${batchDims + k}u)`}; aB += c * p(${aSt + k}u); bB += c * p(${bSt + k}u); ${k === 0 ? "" : `rem = rem / p(${batchDims + k}u);`} }`,
    )
    .join("\n");
  const acc = R.flatMap((r) => C.map((c) => `  var acc${r}_${c} = vec4<f32>(0.0);`)).join("\n");
  const rows = R.map((r) => `  let ar${r} = aOff + min(row0 + ${r}u, M - 1u) * ${vec ? "K4" : "K"};`).join("\n");
  const inner = vec
    ? `  for (var k4 = 0u; k4 < K4; k4++) {
${R.map((r) => `    let a${r} = A[ar${r} + k4];`).join("\n")}
${range(4)
  .map(
    (kk) => `    {
      let bk = bOff + (k4 * 4u + ${kk}u) * N4;
${C.map((c) => `      let b${c} = B[bk + bc${c}];`).join("\n")}
${R.flatMap((r) => C.map((c) => `      acc${r}_${c} = fma(vec4<f32>(a${r}[${kk}]), b${c}, acc${r}_${c});`)).join("\n")}
    }`,
  )
  .join("\n")}
  }`
    : `  for (var k = 0u; k < K; k++) {
    let bk = bOff + k * N;
${C.map(
  (c) =>
    `    let b${c} = vec4<f32>(${range(4)
      .map((e) => `B[bk + min(col0 + ${c * 4 + e}u, N - 1u)]`)
      .join(", ")});`,
).join("\n")}
${R.map((r) => `    let a${r} = A[ar${r} + k];`).join("\n")}
${R.flatMap((r) => C.map((c) => `    acc${r}_${c} = fma(vec4<f32>(a${r}), b${c}, acc${r}_${c});`)).join("\n")}
  }`;
  const value = (r: number, c: number, e: number) =>
    epilogue ? `epilogue(o + col0 + ${c * 4 + e}u, acc${r}_${c}[${e}])` : `acc${r}_${c}[${e}]`;
  const store = R.map(
    (r) => `  if (row0 + ${r}u < M) {
    let o = oOff + (row0 + ${r}u) * N;
${C.map((c) =>
  vec
    ? `    if (col0 + ${c * 4}u < N) { Out[(o + col0) / 4u + ${c}u] = ${
        epilogue
          ? `vec4<f32>(${range(4)
              .map((e) => value(r, c, e))
              .join(", ")})`
          : `acc${r}_${c}`
      }; }`
    : range(4)
        .map((e) => `    if (col0 + ${c * 4 + e}u < N) { Out[o + col0 + ${c * 4 + e}u] = ${value(r, c, e)}; }`)
        .join("\n"),
).join("\n")}
  }`,
  ).join("\n");
  const elem = vec ? "vec4<f32>" : "f32";
  return `${decl(0, "A", elem, "read")}
${decl(1, "B", elem, "read")}
${decl(2, "Out", elem, "read_write")}
${paramsDecl(3 + (epilogue?.bindings ?? 0), 5 + 3 * batchRank)}
${epilogue ? `${PRELUDE}\n${epilogue.wgsl}` : ""}
@compute @workgroup_size(${wgx}, ${wgy})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = p(0u); let K = p(1u); let N = p(2u);
  let K4 = K / 4u; let N4 = N / 4u;
  let t = wid.z + p(3u);
  var aB = 0u; var bB = 0u;
  var rem = t;
${batchCode}
  let aOff = aB * M * ${vec ? "K4" : "K"};
  let bOff = bB * K * ${vec ? "N4" : "N"};
  let oOff = t * M * N;
  let row0 = ${wgy === 1 ? "wid.y" : `(wid.y * ${wgy}u + lid.y)`} * ${tm}u;
  let col0 = (wid.x * ${wgx}u + lid.x) * ${tn4 * 4}u;
${vec ? C.map((c) => `  let bc${c} = min(col0 / 4u + ${c}u, N4 - 1u);`).join("\n") : ""}
${rows}
${acc}
${inner}
${store}
}`;
}

/** x with its last two axes swapped, in a new buffer. */
function swapLast(rt: Runtime, x: GpuRef): GpuRef {
  const r = x.shape.length;
  const perm = [...range(r - 2), r - 1, r - 2];
  const shape = perm.map((p) => x.shape[p]!);
  return { buf: transpose(rt, [x], { perm }, { shape, dtype: x.dtype }), shape, dtype: x.dtype };
}

export type MatmulKernel = "direct" | "tiled";

let kernelOverride: MatmulKernel | null = null;
/** Force one matmul kernel for f32 (tests, benchmarks); null restores the size rule. Half inputs always take the tiled one. */
export function setMatmulKernel(k: MatmulKernel | null): void {
  kernelOverride = k;
}

/**
 * The size rule: on a hardware adapter the tiled kernel (workgroup memory,
 * 8 × 8 or 4 × 4 register blocks) takes products of at least
 * TILED_MIN_WORK multiply-adds whose output is at least TILED_MIN_SIDE on
 * both sides, i.e. square n ≥ 1024 and every n ≥ 2048 the [webgpu-train]
 * issue asks for; below that the direct kernel's fewer barriers and no
 * staging win or tie. The threshold is a first estimate, not a measurement
 * on a GPU: `npm run bench:gpu` times both kernels side by side so the
 * crossover can be read off a real device and this constant moved.
 */
export const TILED_MIN_WORK = 1024 ** 3;
export const TILED_MIN_SIDE = 128;

/**
 * Which kernel runs a product. Half inputs take the tiled kernel everywhere:
 * it is the one that reads 16-bit storage (natively with shader-f16). On a
 * software adapter f32 stays on the direct kernel, which lavapipe runs
 * faster at every size measured (bench/results/gpu-lavapipe-software.md).
 */
export function chooseMatmulKernel(software: boolean, dtype: DType, M: number, N: number, K: number): MatmulKernel {
  if (isHalf(dtype)) return "tiled";
  if (kernelOverride) return kernelOverride;
  if (software) return "direct";
  return M * N * K >= TILED_MIN_WORK && M >= TILED_MIN_SIDE && N >= TILED_MIN_SIDE ? "tiled" : "direct";
}

/** A pointwise program applied to the product as it is stored: input `slot` is the product, `inputs` the rest, in order. */
export interface Epilogue {
  readonly program: PointwiseProgram;
  readonly slot: number;
  readonly inputs: readonly GpuRef[];
}

export const matmul: GpuKernel<"matmul"> = (rt: Runtime, [a, b], params, out) => matmulWith(rt, a!, b!, params, out)!;

/**
 * The product, with `epilogue` applied as it is stored where given; null
 * when the epilogue cannot ride along (the tiled kernel, too many bindings),
 * so the caller runs the product and the program apart.
 */
export function matmulWith(
  rt: Runtime,
  a: GpuRef,
  b: GpuRef,
  { transposeA, transposeB }: ParamsOf<"matmul">,
  out: OutSpec,
  epilogue?: Epilogue,
): GpuBuffer | null {
  const [ar, ac] = a.shape.slice(-2) as [number, number];
  const [M, K] = transposeA ? [ac, ar] : [ar, ac];
  const N = out.shape[out.shape.length - 1]!;
  if (chooseMatmulKernel(isSoftwareAdapter(rt.handle), a.dtype, M, N, K) === "tiled")
    return epilogue ? null : tiledMatmul(rt, a, b, transposeA, transposeB, out);
  if (epilogue && 3 + epilogue.inputs.length > rt.limits.maxStorageBuffersPerShaderStage) return null;
  const a2 = transposeA ? swapLast(rt, a) : a,
    b2 = transposeB ? swapLast(rt, b) : b;
  try {
    return product(rt, [a2, b2], out, epilogue);
  } finally {
    if (a2 !== a) rt.free(a2.buf);
    if (b2 !== b) rt.free(b2.buf);
  }
}

/** a @ b for row-major a [..., M, K] and b [..., K, N] (transposes already applied). */
const product = (rt: Runtime, [a, b]: readonly GpuRef[], out: OutSpec, epilogue?: Epilogue): GpuBuffer => {
  const [M, K] = a!.shape.slice(-2) as [number, number];
  const N = b!.shape[b!.shape.length - 1]!;
  const batchShape = out.shape.slice(0, -2);
  const batch = sizeOf(batchShape);
  const o = rt.alloc(deviceBytes(out.dtype, sizeOf(out.shape), "matmul"), "the output of matmul");
  if (K === 0 && !epilogue) {
    rt.clear(o.buffer, 0, sizeOf(out.shape) * 4);
    return o;
  }
  const vec = K % 4 === 0 && N % 4 === 0;
  // the epilogue's inputs bind after Out, and the parameters (the runtime's uniform) come last
  const epi = epilogue && { ...epilogueWgsl(epilogue.program, epilogue.slot, 3), bindings: epilogue.inputs.length };
  // batch strides in matrices (0 along broadcast axes), over the batch axes of the output
  const matStrides = (shape: readonly number[]) => broadcastStrides(shape.slice(0, -2), batchShape);
  const aS = matStrides(a!.shape),
    bS = matStrides(b!.shape);
  const rank = batchShape.length;
  const tl = tilingFor(rt, N);
  const gx = Math.ceil(N / (tl.wgx * tl.tn4 * 4)),
    gy = Math.ceil(M / (tl.wgy * tl.tm));
  const maxZ = rt.limits.maxComputeWorkgroupsPerDimension;
  if (gx > maxZ || gy > maxZ)
    throw new AnchorError(
      `matmul: output ${M}×${N} needs ${gy}×${gx} workgroups, more than maxComputeWorkgroupsPerDimension (${maxZ}); split the matrix`,
    );
  for (let base = 0; base < batch; base += maxZ) {
    rt.dispatch({
      name: epilogue ? `matmul+${fusedName(epilogue.program)}` : "matmul",
      key: `matmul:${vec ? "v" : "s"}:${rank}:${tl.tm}x${tl.tn4}:${tl.wgx}x${tl.wgy}${epi ? `:e${epi.id}` : ""}`,
      wgsl: () => shader(tl, vec, rank, epi),
      bindings: [
        { buf: a!.buf.buffer, access: "read" },
        { buf: b!.buf.buffer, access: "read" },
        { buf: o.buffer, access: "read_write" },
        ...(epilogue?.inputs ?? []).map((x) => ({ buf: x.buf.buffer, access: "read" as const })),
      ],
      params: [M, K, N, base, rank, ...batchShape, ...aS, ...bS],
      workgroups: [gx, gy, Math.min(maxZ, batch - base)],
    });
  }
  return o;
};

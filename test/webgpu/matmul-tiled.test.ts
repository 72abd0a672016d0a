/**
 * The tiled matmul (kernels/matmul-tiled.ts) against the cpu: sizes off
 * every tile (1, odd, just past 32/64/128), batched with broadcasting, all
 * four transpose flag combinations (read through strides, no copy), K = 0,
 * and float16/bfloat16 storage read by the kernel itself (natively with
 * shader-f16, and packed as on an adapter without it). Plus the selection
 * rules, which are pure functions of the adapter's features and limits.
 */
import { afterEach, describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { chooseMatmulKernel, setMatmulKernel, TILED_MIN_WORK } from "../../src/backends/webgpu/kernels/matmul.js";
import { operandFormat, pickTile, setNativeF16, TILES, tileBytes, tiledShader } from "../../src/backends/webgpu/kernels/matmul-tiled.js";
import type { Tensor } from "../../src/index.js";
import { fromFloat16Bits } from "../../src/tensor/dtype.js";
import { describeWebGPU, expectClose, gpu } from "./setup.js";

const LIMITS = {
  maxStorageBufferBindingSize: 1 << 27,
  maxBufferSize: 1 << 28,
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxComputeWorkgroupSizeY: 256,
  maxComputeWorkgroupsPerDimension: 65535,
  maxStorageBuffersPerShaderStage: 8,
  minUniformBufferOffsetAlignment: 256,
};

describe("tiled matmul selection", () => {
  it("half inputs always take the tiled kernel; f32 follows the size rule on hardware and stays direct on software", () => {
    expect(chooseMatmulKernel(true, "float16", 4, 4, 4)).toBe("tiled");
    expect(chooseMatmulKernel(false, "bfloat16", 4, 4, 4)).toBe("tiled");
    expect(chooseMatmulKernel(true, "float32", 4096, 4096, 4096)).toBe("direct");
    expect(chooseMatmulKernel(false, "float32", 2048, 2048, 2048)).toBe("tiled");
    expect(chooseMatmulKernel(false, "float32", 1024, 1024, 1024)).toBe("tiled");
    expect(chooseMatmulKernel(false, "float32", 512, 512, 512)).toBe("direct");
    // enough work but a thin output: the tile would be mostly idle
    expect(TILED_MIN_WORK / (64 * 64)).toBeGreaterThan(1);
    expect(chooseMatmulKernel(false, "float32", 64, 64, TILED_MIN_WORK / (64 * 64))).toBe("direct");
  });

  it("float16 is read natively only with shader-f16; bfloat16 is always widened from packed words", () => {
    expect(operandFormat("float16", ["shader-f16", "timestamp-query"])).toBe("f16");
    expect(operandFormat("float16", ["timestamp-query"])).toBe("f16-packed");
    expect(operandFormat("bfloat16", ["shader-f16"])).toBe("bf16-packed");
    expect(operandFormat("float32", [])).toBe("f32");
    expect(() => operandFormat("int32", [])).toThrow(/no storage format for int32/);
    expect(tiledShader(TILES[1]!, "f16", "f16", 0)).toMatch(/^enable f16;/);
    expect(tiledShader(TILES[1]!, "f16-packed", "bf16-packed", 0)).not.toMatch(/enable f16/);
  });

  it("the tile is the largest the limits allow that the output fills", () => {
    expect(pickTile(LIMITS, 4096, 4096)).toBe(TILES[0]);
    expect(pickTile(LIMITS, 50, 4096)).toBe(TILES[1]);
    expect(pickTile(LIMITS, 5, 7)).toBe(TILES[2]);
    // 8 KB of workgroup memory: the 128 tile (16 KB) does not fit
    expect(tileBytes(TILES[0]!)).toBe(16384);
    expect(pickTile({ ...LIMITS, maxComputeWorkgroupStorageSize: 8192 }, 4096, 4096)).toBe(TILES[1]);
    // compatibility mode: 128 invocations leaves only the 8 × 8 workgroup
    expect(pickTile({ ...LIMITS, maxComputeInvocationsPerWorkgroup: 128 }, 4096, 4096)).toBe(TILES[2]);
    expect(() => pickTile({ ...LIMITS, maxComputeInvocationsPerWorkgroup: 32 }, 64, 64)).toThrow(/no tile fits this adapter/);
  });
});

const normal = (shape: number[], seed: number, device: string, dtype: ag.DType = "float32") =>
  ag.cast(ag.randomNormal(shape, { seed, device }), dtype);

/** matmul with flags on the backend's kernel directly (the public op takes no flags). */
async function kernelMatmul(a: Tensor, b: Tensor, transposeA: boolean, transposeB: boolean, outShape: number[]): Promise<number[]> {
  const out = { shape: outShape, dtype: a.dtype };
  const ref = (x: Tensor) => ({ buf: x._buf as never, shape: x.shape, dtype: x.dtype });
  const buf = gpu.run("matmul", [ref(a), ref(b)], { transposeA, transposeB }, out);
  try {
    return Array.from(
      await gpu.read(
        buf,
        out.dtype,
        outShape.reduce((p, q) => p * q, 1),
      ),
    );
  } finally {
    gpu.free(buf, out.dtype, 0);
  }
}

const SHAPES: [number[], number[]][] = [
  [
    [1, 1],
    [1, 1],
  ],
  [
    [3, 5],
    [5, 7],
  ],
  [
    [33, 17],
    [17, 65],
  ],
  [
    [130, 19],
    [19, 129],
  ],
  [
    [2, 1, 37, 19],
    [3, 19, 45],
  ],
  [
    [70, 200],
    [4, 200, 9],
  ],
];

describeWebGPU("tiled matmul on webgpu", () => {
  afterEach(() => {
    setMatmulKernel(null);
    setNativeF16(null);
  });

  it("f32: parity with the cpu at sizes off the tile grid, batched with broadcasting", async () => {
    setMatmulKernel("tiled");
    for (const [sa, sb] of SHAPES) {
      await ag.scope(async () => {
        const ref = ag.matmul(normal(sa, 1, "cpu"), normal(sb, 2, "cpu"));
        const before = gpu.runtime.stats.dispatches;
        const got = ag.matmul(normal(sa, 1, "webgpu"), normal(sb, 2, "webgpu"));
        expect(got.shape).toEqual(ref.shape);
        expectClose(await got.data(), await ref.data(), `tiled ${sa} @ ${sb}`, { rtol: 1e-4, atol: 1e-5 });
        expect(gpu.runtime.stats.dispatches - before).toBeGreaterThan(0);
      });
    }
  });

  it("transposed flags are read through strides: all four combinations, batched, agree with the cpu", async () => {
    setMatmulKernel("tiled");
    const [B, M, K, N] = [3, 37, 21, 43];
    for (const tA of [false, true])
      for (const tB of [false, true]) {
        await ag.scope(async () => {
          const sa = tA ? [B, K, M] : [B, M, K],
            sb = tB ? [1, N, K] : [1, K, N];
          const swap = (x: Tensor) => ag.transpose(x, [0, 2, 1]);
          const a = normal(sa, 3, "cpu"),
            b = normal(sb, 4, "cpu");
          const ref = ag.matmul(tA ? swap(a) : a, tB ? swap(b) : b);
          const got = await kernelMatmul(normal(sa, 3, "webgpu"), normal(sb, 4, "webgpu"), tA, tB, [B, M, N]);
          expectClose(got, await ref.data(), `transposeA ${tA} transposeB ${tB}`, { rtol: 1e-4, atol: 1e-5 });
        });
      }
  });

  it("K = 0 gives zeros", async () => {
    setMatmulKernel("tiled");
    const got = ag.matmul(ag.zeros([5, 0], { device: "webgpu" }), ag.zeros([0, 3], { device: "webgpu" }));
    expect(Array.from(await got.data())).toEqual(new Array(15).fill(0));
  });

  const halfCases: [ag.DType, boolean | null, number][] = [
    ["float16", true, 2e-3],
    ["float16", false, 2e-3],
    ["bfloat16", null, 1.6e-2],
  ];
  for (const [dtype, native, rtol] of halfCases) {
    const how = native === null ? "packed words" : native ? "natively (shader-f16)" : "packed words, as without shader-f16";
    it(`${dtype} read ${how}: f32 accumulation, one rounding, no upcast passes`, async () => {
      const features = gpu.handle.features;
      if (native === true && !features.includes("shader-f16")) {
        console.warn(`[webgpu] this adapter has no shader-f16 (features: ${features.join(", ")}); native f16 not tested`);
        return;
      }
      setNativeF16(native);
      for (const [sa, sb] of SHAPES) {
        await ag.scope(async () => {
          const ref = ag.matmul(normal(sa, 5, "cpu", dtype), normal(sb, 6, "cpu", dtype));
          const a = normal(sa, 5, "webgpu", dtype),
            b = normal(sb, 6, "webgpu", dtype);
          const before = gpu.runtime.stats.dispatches;
          const got = ag.matmul(a, b);
          // the matmul and one cast down; the core's upcast path would add two casts up
          expect(gpu.runtime.stats.dispatches - before, `dispatches for ${dtype} ${sa} @ ${sb}`).toBe(2);
          expect(got.dtype).toBe(dtype);
          expectClose(await got.data(), await ref.data(), `${dtype} ${sa} @ ${sb}`, { rtol, atol: rtol / 4 });
        });
      }
    });
  }

  it("a half matmul transposed through the kernel's strides", async () => {
    const [M, K, N] = [19, 33, 27];
    await ag.scope(async () => {
      const a = normal([K, M], 7, "cpu", "float16"),
        b = normal([N, K], 8, "cpu", "float16");
      const ref = ag.matmul(ag.transpose(a), ag.transpose(b));
      const got = await kernelMatmul(normal([K, M], 7, "webgpu", "float16"), normal([N, K], 8, "webgpu", "float16"), true, true, [M, N]);
      const decoded = got.map(fromFloat16Bits); // the kernel's raw output: float16 bit patterns
      expectClose(decoded, await ref.data(), "f16 transposed", { rtol: 2e-3, atol: 5e-4 });
    });
  });
});

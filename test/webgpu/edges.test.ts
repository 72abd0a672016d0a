/**
 * Edge cases on webgpu against the cpu: odd sizes around workgroup and tile
 * boundaries, empty axes, size-1 broadcasting, matmul shapes off the tile
 * grid (both the vec4 and the scalar paths, batched with broadcasting),
 * dispatches past 65535 workgroups, and the size limit error.
 */
import fc from "fast-check";
import { expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { divMagic } from "../../src/backends/webgpu/strides.js";
import { describeWebGPU, expectClose, gpu } from "./setup.js";

const SIZES = [1, 3, 17, 1000, 1023];

const normal = (shape: number[], seed: number, device: string) => ag.randomNormal(shape, { seed, device });

/** Run `f` on cpu and webgpu tensors made from the same seeds; compare the outputs. */
async function parity(
  what: string,
  shapes: number[][],
  f: (...xs: ag.Tensor[]) => ag.Tensor,
  o: { rtol?: number; atol?: number } = {},
): Promise<void> {
  await ag.scope(async () => {
    const ref = f(...shapes.map((s, i) => normal(s, i + 1, "cpu")));
    const got = f(...shapes.map((s, i) => normal(s, i + 1, "webgpu")));
    expect(got.device).toBe("webgpu");
    expect(got.shape, what).toEqual(ref.shape);
    expectClose(await got.data(), await ref.data(), what, { exact: !ag.isFloat(ref.dtype), ...o });
  });
}

describeWebGPU("webgpu edge cases", () => {
  it("elementwise, reductions and argmax at sizes 1, 3, 17, 1000, 1023", async () => {
    for (const n of SIZES) {
      await parity(`tanh [${n}]`, [[n]], (x) => ag.tanh(x));
      await parity(`gelu [${n}]`, [[n]], (x) => ag.gelu(x));
      await parity(`sum [${n}]`, [[n]], (x) => ag.sum(x));
      await parity(`sum rows [3, ${n}]`, [[3, n]], (x) => ag.sum(x, 1));
      await parity(`sum cols [${n}, 3]`, [[n, 3]], (x) => ag.sum(x, 0));
      await parity(`max [${n}, 2]`, [[2, n]], (x) => ag.max(x, -1));
      await parity(`argmax [2, ${n}]`, [[2, n]], (x) => ag.argmax(x, -1));
      await parity(`logsumexp [${n}]`, [[n]], (x) => ag.logsumexp(x));
      await parity(`softmax [2, ${n}]`, [[2, n]], (x) => ag.softmax(x));
      await parity(`layerNorm [2, ${n}]`, [[2, n]], (x) => ag.layerNorm(x));
    }
  });

  it("a full sum over a million elements (two-pass) and sums over middle axes", async () => {
    await parity("sum [1<<20]", [[1 << 20]], (x) => ag.sum(x), { atol: 1e-5 });
    await parity("sum over 20000 rows of 40 (one invocation per row)", [[20000, 40]], (x) => ag.sum(x, 1));
    await parity("sum over 3 rows of 5000 (a workgroup per row)", [[3, 5000]], (x) => ag.sum(x, 1));
    await parity("argmax over 300 rows of 3000", [[300, 3000]], (x) => ag.argmax(x, 1));
    await parity("sum [3, 5000, 2] axis 1", [[3, 5000, 2]], (x) => ag.sum(x, 1));
    await parity("max [4, 7, 5] axes 0, 2", [[4, 7, 5]], (x) => ag.max(x, [0, 2]));
    await parity("sum int32", [[17, 3]], (x) => ag.sum(ag.cast(ag.mul(x, 10), "int32"), 0));
  });

  it("empty axes", async () => {
    await parity("sum over an empty axis", [[0, 3]], (x) => ag.sum(x, 0));
    await parity("sum of an empty axis, keepdims", [[4, 0]], (x) => ag.sum(x, 1, true));
    await parity("exp of an empty tensor", [[0, 5]], (x) => ag.exp(x));
    await parity(
      "matmul with K = 0",
      [
        [3, 0],
        [0, 4],
      ],
      (a, b) => ag.matmul(a, b),
    );
    await parity(
      "matmul with M = 0",
      [
        [0, 5],
        [5, 4],
      ],
      (a, b) => ag.matmul(a, b),
    );
    await parity(
      "concat with an empty piece",
      [
        [2, 0],
        [2, 3],
      ],
      (a, b) => ag.concat([a, b], 1),
    );
    await parity("slice to nothing", [[4, 3]], (x) => ag.slice(x, [2, 0], [2, 3]));
    await parity("gather with no indices", [[4, 3]], (x) => ag.gather(x, ag.tensor([], { dtype: "int32", device: x.device }), 0));
  });

  it("broadcasting against size-1 axes", async () => {
    await parity(
      "[3,1,5] + [1,4,1]",
      [
        [3, 1, 5],
        [1, 4, 1],
      ],
      (a, b) => ag.add(a, b),
    );
    await parity("[17,1] * [1]", [[17, 1], [1]], (a, b) => ag.mul(a, b));
    await parity("[] - [2,3]", [[], [2, 3]], (a, b) => ag.sub(a, b));
    await parity("where [1,5] ? [4,1] : []", [[1, 5], [4, 1], []], (c, a, b) => ag.where(ag.greater(c, 0), a, b));
    await parity(
      "maximum [2,1,3,1] [1,5,1,7]",
      [
        [2, 1, 3, 1],
        [1, 5, 1, 7],
      ],
      (a, b) => ag.maximum(a, b),
    );
    await parity("broadcastTo [1,3] -> [1000,3]", [[1, 3]], (x) => ag.broadcastTo(x, [1000, 3]));
    // gradients sum over the broadcast axes
    await parity(
      "grad of [3,1,5] * [1,4,1]",
      [
        [3, 1, 5],
        [1, 4, 1],
      ],
      (a, b) => ag.grad((u: ag.Tensor) => ag.sum(ag.mul(ag.mul(u, b), u)))(a),
    );
  });

  it("index division by multiply-high matches exact division for every u32 (property; the kernels' broadcasting depends on it)", () => {
    // the WGSL mulhi works on 16-bit halves; emulate it exactly as written
    const mulhi = (a: number, b: number) => {
      const al = a & 0xffff,
        ah = a >>> 16,
        bl = b & 0xffff,
        bh = b >>> 16;
      const t = (Math.imul(ah, bl) >>> 0) + ((Math.imul(al, bl) >>> 0) >>> 16);
      const w = ((t & 0xffff) + (Math.imul(al, bh) >>> 0)) >>> 0;
      return ((Math.imul(ah, bh) >>> 0) + (t >>> 16) + (w >>> 16)) >>> 0;
    };
    const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 2 ** 32 - 1 }), u32, (d, n) => {
        const [magic, shift] = divMagic(d);
        const t = mulhi(magic, n);
        expect(t).toBe(Number((BigInt(magic) * BigInt(n)) >> 32n));
        expect((t + ((n - t) >>> 1)) >>> shift).toBe(Math.floor(n / d));
      }),
      { numRuns: 2000, seed: 5 },
    );
  });

  it("broadcasting and copies over axes longer than 65536", async () => {
    await parity(
      "[3, 70001] + [3, 1]",
      [
        [3, 70001],
        [3, 1],
      ],
      (a, b) => ag.add(a, b),
    );
    await parity("transpose [70001, 3]", [[70001, 3]], (x) => ag.transpose(x));
    await parity(
      "[2, 65537, 2] * [65537, 1]",
      [
        [2, 65537, 2],
        [65537, 1],
      ],
      (a, b) => ag.mul(a, b),
    );
  });

  it("matmul shapes that are not multiples of the tile", async () => {
    const shapes: [number[], number[]][] = [
      [
        [1, 1],
        [1, 1],
      ],
      [
        [3, 5],
        [5, 7],
      ],
      [
        [17, 33],
        [33, 65],
      ],
      [
        [65, 1],
        [1, 129],
      ],
      [
        [5, 8],
        [8, 12],
      ],
      [
        [67, 4],
        [4, 260],
      ],
      [
        [1, 1024],
        [1024, 3],
      ],
      [
        [1023, 17],
        [17, 1],
      ],
      [
        [2, 1, 5, 6],
        [3, 6, 7],
      ],
      [
        [4, 9, 8],
        [8, 4],
      ],
      [
        [2, 3, 12, 8],
        [1, 3, 8, 20],
      ],
    ];
    for (const [a, b] of shapes) await parity(`matmul ${JSON.stringify(a)} @ ${JSON.stringify(b)}`, [a, b], (x, y) => ag.matmul(x, y));
    await parity(
      "matmul gradient [7,13] @ [13,5]",
      [
        [7, 13],
        [13, 5],
      ],
      (x, y) => ag.grad((u: ag.Tensor) => ag.sum(ag.tanh(ag.matmul(u, y))))(x),
    );
    await parity(
      "matmul 256³ (vec4 path, several workgroups)",
      [
        [256, 256],
        [256, 256],
      ],
      (x, y) => ag.matmul(x, y),
      { atol: 1e-5 },
    );
  });

  it("matmul over random shapes and broadcast batches (property)", async () => {
    const dim = fc.integer({ min: 1, max: 70 });
    const batch = fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 });
    // each batch axis is kept, or set to 1 on one side (broadcast), or dropped from b
    const layout = fc.constantFrom("same", "a1", "b1", "bNone");
    await fc.assert(
      fc.asyncProperty(dim, dim, dim, batch, layout, async (M, K, N, bs, how) => {
        const aB = how === "a1" ? bs.map(() => 1) : bs;
        const bB = how === "b1" ? bs.map(() => 1) : how === "bNone" ? [] : bs;
        await parity(
          `matmul [${aB},${M},${K}] @ [${bB},${K},${N}]`,
          [
            [...aB, M, K],
            [...bB, K, N],
          ],
          (a, b) => ag.matmul(a, b),
        );
      }),
      { numRuns: process.env.ANCHORGRAD_FULL === "1" ? 150 : 25, seed: 11 },
    );
  });

  it("gather and scatterAdd with repeated indices, in a fixed summation order", async () => {
    const idx = [5, 0, 5, 5, 2, 0, 9, 5];
    await parity("scatterAdd repeats", [[3, 8, 4]], (u) =>
      ag.scatterAdd(u, ag.tensor(idx, { dtype: "int32", device: u.device }), 1, [3, 10, 4]),
    );
    await parity("gather grad", [[10, 6]], (x) =>
      ag.grad((v: ag.Tensor) =>
        ag.sum(
          ag.mul(
            ag.gather(v, ag.tensor(idx, { dtype: "int32", device: v.device }), 0),
            ag.gather(v, ag.tensor(idx, { dtype: "int32", device: v.device }), 0),
          ),
        ),
      )(x),
    );
    const u = normal([1, 3000, 1], 3, "webgpu"),
      many = ag.zeros([3000], { dtype: "int32", device: "webgpu" });
    const once = await ag.scatterAdd(u, many, 1, [1, 2, 1]).data();
    const again = await ag.scatterAdd(u, many, 1, [1, 2, 1]).data();
    expect(Array.from(again)).toEqual(Array.from(once)); // bitwise: same order every run
    expectClose(once, [Array.from(await u.data()).reduce((s, v) => s + v, 0), 0], "3000 updates into one slot");
  });

  it("dispatches past 65535 workgroups per dimension", async () => {
    const before = gpu.runtime.stats.dispatches;
    // 2^24 + 5 elements: 65537 workgroups of 256 for the broadcast copy and the multiply
    await ag.scope(async () => {
      const big = ag.broadcastTo(ag.ones([1], { device: "webgpu" }), [(1 << 24) + 5]);
      const s = ag.sum(ag.mul(big, 2));
      expect(await s.data()).toEqual(new Float32Array([2 * ((1 << 24) + 5)]));
    });
    expect(gpu.runtime.stats.dispatches - before).toBeGreaterThanOrEqual(4);
  });

  it("refuses a tensor larger than maxStorageBufferBindingSize, naming the limit", () => {
    const limit = gpu.runtime.limits.maxStorageBufferBindingSize;
    const n = Math.floor(limit / 4) + 1;
    const x = ag.ones([1], { device: "webgpu" });
    expect(() => ag.broadcastTo(x, [n])).toThrow(/maxStorageBufferBindingSize/);
  });
});

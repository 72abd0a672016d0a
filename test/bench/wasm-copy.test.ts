/**
 * The strided copies behind transpose, slice, concat, pad and broadcastTo
 * run on the Wasm copy kernel for 4-byte elements (float32, int32) in the
 * Wasm heap. Their results must equal the same op on float64, which the JS
 * copy loop runs, element for element, over random shapes, permutations,
 * windows and broadcasts, and every bit of a value must arrive (NaN
 * payloads included).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { wasmCopies } from "../../src/backends/cpu/wasm/copy.js";

/** Distinct integer values (exact in every dtype), so a misplaced element shows. */
const ramp = (shape: number[], dtype: "float32" | "int32" | "float64") =>
  ag.tensor(
    Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i - 7),
    { shape, dtype },
  );

/**
 * `op` on float32 and int32 (the Wasm kernel) against float64 (the JS
 * loop), and that the kernel ran where the op copied 1,024 elements or more
 * (an identity slice or transpose returns its input).
 */
function agrees(shape: number[], op: (x: ag.Tensor) => ag.Tensor): void {
  const want = ag.scope(() => op(ramp(shape, "float64")).dataSync());
  for (const dtype of ["float32", "int32"] as const) {
    const before = wasmCopies();
    const got = ag.scope(() => {
      const x = ramp(shape, dtype),
        y = op(x);
      if (y !== x && y.size >= 1024) expect(wasmCopies(), `${dtype} ${JSON.stringify(shape)} ran on the kernel`).toBeGreaterThan(before);
      return y.dataSync();
    });
    expect(got.length).toBe(want.length);
    const bad = want.findIndex((v, i) => got[i] !== v);
    expect(bad, `${dtype} ${JSON.stringify(shape)}: first wrong element`).toBe(-1);
  }
}

const shapeOf = (rank: number) => fc.array(fc.integer({ min: 1, max: 13 }), { minLength: rank, maxLength: rank });
/** Shapes of rank 1-5 with at least the kernel's 1,024 elements. */
const bigShape = fc
  .integer({ min: 1, max: 5 })
  .chain(shapeOf)
  .map((s) => {
    const n = s.reduce((a, b) => a * b, 1);
    return n >= 1024 ? s : [Math.ceil(1024 / (n / s[0]!)), ...s.slice(1)];
  });

describe("strided copies on the wasm kernel", () => {
  it("transpose: every permutation pattern", () => {
    fc.assert(
      fc.property(
        bigShape.chain((s) => fc.tuple(fc.constant(s), fc.shuffledSubarray([...s.keys()], { minLength: s.length, maxLength: s.length }))),
        ([shape, perm]) => agrees(shape, (x) => ag.transpose(x, perm)),
      ),
      { numRuns: 40 },
    );
  });

  it("slice, pad and broadcastTo", () => {
    fc.assert(
      fc.property(bigShape, fc.nat(), (shape, seed) => {
        const starts = shape.map((d, i) => (seed >> i) % Math.max(1, d >> 1));
        agrees(shape, (x) => ag.slice(x, starts));
        agrees(shape, (x) =>
          ag.pad(
            x,
            shape.map((_, i) => [i % 2, 1] as [number, number]),
          ),
        );
        agrees(shape, (x) => ag.broadcastTo(ag.expandDims(x, 1), [shape[0]!, 2, ...shape.slice(1)]));
      }),
      { numRuns: 20 },
    );
  });

  it("concat on every axis, and one long run split across the threads (with a tail)", () => {
    agrees([7, 40, 9], (x) => ag.concat([x, ag.add(x, 1000), x], 1));
    agrees([7, 40, 9], (x) => ag.concat([x, x], 2));
    agrees([140_003], (x) => ag.concat([x, x], 0));
    agrees([3, 140_003], (x) => ag.slice(x, [1, 5], [3, 200_001]));
  });

  it("moves bits unchanged: NaN payloads, -0 and subnormals", () => {
    const bits = new Uint32Array(64 * 64);
    for (let i = 0; i < bits.length; i++) bits[i] = [0x7fc00001 + i, 0xffa00000 + i, 0x80000000, 0x00000001 + i][i % 4]!;
    const x = ag.tensor(new Float32Array(bits.buffer), { shape: [64, 64] });
    const y = ag.transpose(x, [1, 0]).dataSync() as Float32Array;
    const out = new Uint32Array(y.buffer, y.byteOffset, y.length);
    for (let i = 0; i < 64; i++) for (let j = 0; j < 64; j++) expect(out[j * 64 + i]).toBe(bits[i * 64 + j]);
  });
});

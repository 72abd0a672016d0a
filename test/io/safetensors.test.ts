/** Safetensors: decoding against hand-computed values, bit-exact round trips, sharding, lazy reads, atomic writes. */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { openCheckpoint, openSafetensors, SafetensorsError, writeSafetensors } from "../../src/io/safetensors.js";
import { fromStorage } from "../../src/ops/create.js";
import type { DType, StorageArray } from "../../src/tensor/dtype.js";
import { rawSafetensors, tempDir, u16Bytes, writeBytes } from "./helpers.js";

const dir = tempDir("st");
let fileNo = 0;
const fresh = (name = "t") => join(dir, `${name}-${fileNo++}.safetensors`);

/** A file with one tensor of the given dtype and raw bytes, built by hand. */
async function oneTensor(dtype: string, shape: number[], data: Uint8Array) {
  const path = writeBytes(fresh(), rawSafetensors({ x: { dtype, shape, data_offsets: [0, data.length] } }, data));
  return openSafetensors(path);
}

const rawBytes = (t: ag.Tensor): Uint8Array => {
  const s = t.rawSync();
  return new Uint8Array(s.buffer, s.byteOffset, s.byteLength);
};

describe("decoding against hand-computed values", () => {
  // bf16 is the top 16 bits of a float32: sign, 8 exponent bits, 7 mantissa bits.
  const bf16: [number, number][] = [
    [0x3f80, 1],
    [0xc000, -2],
    [0x3fc0, 1.5],
    [0x4049, 3.140625],
    [0x3e80, 0.25],
    [0x4780, 65536],
    [0x0001, 2 ** -133],
    [0x0080, 2 ** -126],
    [0x7f7f, (2 - 2 ** -7) * 2 ** 127],
    [0x7f80, Infinity],
    [0xff80, -Infinity],
    [0x8000, -0],
  ];
  // f16: sign, 5 exponent bits (bias 15), 10 mantissa bits.
  const f16: [number, number][] = [
    [0x3c00, 1],
    [0xc000, -2],
    [0x3e00, 1.5],
    [0x3555, 1365 / 4096],
    [0x7bff, 65504],
    [0x0001, 2 ** -24],
    [0x0400, 2 ** -14],
    [0x03ff, 1023 * 2 ** -24],
    [0x7c00, Infinity],
    [0xfc00, -Infinity],
    [0x8000, -0],
    [0x4248, 3.140625],
  ];

  for (const [name, table, nan] of [
    ["BF16", bf16, 0x7fc0],
    ["F16", f16, 0x7e00],
  ] as const) {
    it(`${name} decodes to float32 and float64 exactly, NaN included`, async () => {
      const f = await oneTensor(name, [table.length + 1], u16Bytes([...table.map((r) => r[0]), nan]));
      for (const dtype of ["float32", "float64"] as const) {
        const got = Array.from((await f.read("x", { dtype })).dataSync());
        table.forEach(([, want], i) => expect(Object.is(got[i], want), `${name} ${table[i]![0].toString(16)} -> ${got[i]}`).toBe(true));
        expect(got[table.length]).toBeNaN();
      }
      expect((await f.read("x")).dtype).toBe("float32");
      await f.close();
    });

    it(`${name} read as its own 16-bit dtype keeps the bits`, async () => {
      const bits = [...table.map((r) => r[0]), nan];
      const f = await oneTensor(name, [bits.length], u16Bytes(bits));
      const t = await f.read("x", { dtype: name === "BF16" ? "bfloat16" : "float16" });
      expect(Array.from(t.rawSync())).toEqual(bits);
      await f.close();
    });
  }

  it("BF16 read as float16 rounds once, to nearest even", async () => {
    // bf16 0x3f81 = 1 + 2^-7 is exact in f16 (0x3c08); bf16 0x4780 = 65536 overflows f16 to +inf.
    const f = await oneTensor("BF16", [2], u16Bytes([0x3f81, 0x4780]));
    expect(Array.from((await f.read("x", { dtype: "float16" })).rawSync())).toEqual([0x3c08, 0x7c00]);
    await f.close();
  });

  it("F32, F64, I32, U8 and BOOL decode to their natural dtypes", async () => {
    const cases: [string, Uint8Array, DType, number[]][] = [
      ["F32", new Uint8Array(Float32Array.of(0.1, -3e38).buffer), "float32", [Math.fround(0.1), Math.fround(-3e38)]],
      ["F64", new Uint8Array(Float64Array.of(0.1, -1e300).buffer), "float64", [0.1, -1e300]],
      ["I32", new Uint8Array(Int32Array.of(-2147483648, 7).buffer), "int32", [-2147483648, 7]],
      ["U8", Uint8Array.of(0, 255), "int32", [0, 255]],
      ["BOOL", Uint8Array.of(0, 1), "bool", [0, 1]],
    ];
    for (const [dt, bytes, want, values] of cases) {
      const f = await oneTensor(dt, [2], bytes);
      const t = await f.read("x");
      expect([t.dtype, Array.from(t.dataSync())]).toEqual([want, values]);
      await f.close();
    }
  });

  it("I64 decodes to int32 within range and refuses values outside it", async () => {
    const ok = await oneTensor("I64", [3], new Uint8Array(BigInt64Array.of(-2147483648n, 0n, 2147483647n).buffer));
    expect(Array.from((await ok.read("x")).dataSync())).toEqual([-2147483648, 0, 2147483647]);
    const big = await oneTensor("I64", [2], new Uint8Array(BigInt64Array.of(1n, 2147483648n).buffer));
    await expect(big.read("x")).rejects.toThrow(/I64 value 2147483648 at element 1 does not fit int32/);
    expect(Array.from((await big.read("x", { dtype: "float64" })).dataSync())).toEqual([1, 2147483648]);
    await Promise.all([ok.close(), big.close()]);
  });

  it("refuses a float tensor read as an integer dtype, an unknown name, and reads after close", async () => {
    const f = await oneTensor("F32", [1], new Uint8Array(4));
    await expect(f.read("x", { dtype: "int32" })).rejects.toThrow(ag.DTypeError);
    await expect(f.read("y")).rejects.toThrow(/no tensor named "y"/);
    await f.close();
    await expect(f.read("x")).rejects.toThrow(/after close/);
  });
});

describe("writing", () => {
  /** Random storage for a dtype: arbitrary bit patterns for floats, NaN payloads included. */
  const storageFor = (dtype: DType, n: number, seed: number): StorageArray => {
    const bytes = new Uint8Array(n * ({ float64: 8, float32: 4, int32: 4, float16: 2, bfloat16: 2, bool: 1 } as const)[dtype]);
    let s = seed >>> 0;
    for (let i = 0; i < bytes.length; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      bytes[i] = s >>> 24;
    }
    switch (dtype) {
      case "float64":
        return new Float64Array(bytes.buffer);
      case "float32":
        return new Float32Array(bytes.buffer);
      case "int32":
        return new Int32Array(bytes.buffer);
      case "float16":
      case "bfloat16":
        return new Uint16Array(bytes.buffer);
      case "bool":
        return bytes.map((b) => b & 1);
    }
  };
  const tensorArb = fc.record({
    dtype: fc.constantFrom<DType>("float32", "float64", "float16", "bfloat16", "int32", "bool"),
    shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
    seed: fc.integer(),
  });

  it("write -> read is bit-exact for every dtype, shape and name (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(
          fc.string({ minLength: 1, maxLength: 12 }).filter((k) => k !== "__metadata__"),
          tensorArb,
          { minKeys: 0, maxKeys: 6 },
        ),
        fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 20 }), { maxKeys: 3 }),
        async (specs, metadata) => {
          const tensors: Record<string, ag.Tensor> = {};
          for (const [name, { dtype, shape, seed }] of Object.entries(specs)) {
            tensors[name] = fromStorage(
              storageFor(
                dtype,
                shape.reduce((a, b) => a * b, 1),
                seed,
              ),
              shape,
              dtype,
            );
          }
          const path = fresh("prop");
          await writeSafetensors(path, tensors, metadata);
          const bytes = readFileSync(path);
          const headerLen = Number(bytes.readBigUInt64LE(0));
          expect(headerLen % 8).toBe(0);
          const f = await openSafetensors(path);
          expect(f.metadata).toEqual(metadata);
          expect([...f.names].sort()).toEqual(Object.keys(tensors).sort());
          for (const [name, t] of Object.entries(tensors)) {
            const got = await f.read(name, { dtype: t.dtype });
            expect(got.shape).toEqual(t.shape);
            expect(rawBytes(got)).toEqual(rawBytes(t));
          }
          await f.close();
        },
      ),
      { numRuns: 30 },
    );
  });

  it("lays tensors out widest element first, then by name, each aligned to its element size", async () => {
    const path = fresh();
    await writeSafetensors(path, {
      b: ag.ones([3], { dtype: "bool" }),
      a16: ag.ones([3], { dtype: "bfloat16" }),
      z64: ag.ones([1], { dtype: "float64" }),
      c32: ag.ones([1]),
      a32: ag.ones([2], { dtype: "int32" }),
    });
    const bytes = readFileSync(path);
    const n = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString("utf8"));
    expect(bytes.subarray(8, 8 + n).toString("utf8")).toMatch(/^\{.*\} *$/);
    const order = Object.entries(header as Record<string, { data_offsets: number[] }>)
      .sort((x, y) => x[1].data_offsets[0]! - y[1].data_offsets[0]!)
      .map(([k]) => k);
    expect(order).toEqual(["z64", "a32", "c32", "a16", "b"]);
    expect(header.a32).toEqual({ dtype: "I32", shape: [2], data_offsets: [8, 16] });
  });

  it("{ dtype: 'BF16' } rounds float32 to nearest even (ties to even, hand-computed)", async () => {
    // 1 + 2^-8 lies halfway between bf16 1 (0x3f80) and 1 + 2^-7 (0x3f81): even is 0x3f80.
    // 1 + 3*2^-8 lies halfway between 0x3f81 and 0x3f82: even is 0x3f82 = 1.015625.
    const path = fresh();
    await writeSafetensors(path, { w: ag.tensor([1 + 2 ** -8, 1 + 3 * 2 ** -8, -0.1]), i: ag.tensor([5], { dtype: "int32" }) }, undefined, {
      dtype: "BF16",
    });
    const f = await openSafetensors(path);
    expect(f.info("w")).toEqual({ dtype: "BF16", shape: [3] });
    expect(f.info("i").dtype).toBe("I32");
    expect(Array.from((await f.read("w", { dtype: "bfloat16" })).rawSync())).toEqual([0x3f80, 0x3f82, 0xbdcd]);
    await f.close();
  });

  it("replaces a file atomically and leaves no temp file, also when a write fails", async () => {
    const sub = join(dir, "atomic");
    mkdirSync(sub);
    const path = join(sub, "m.safetensors");
    await writeSafetensors(path, { a: ag.tensor([1, 2]) });
    await writeSafetensors(path, { a: ag.tensor([3, 4, 5]) });
    const gone = ag.tensor([9]);
    gone.dispose();
    await expect(writeSafetensors(path, { a: ag.tensor([7]), b: gone })).rejects.toThrow(/disposed/);
    expect(readdirSync(sub)).toEqual(["m.safetensors"]);
    const f = await openSafetensors(path);
    expect(Array.from((await f.read("a")).dataSync())).toEqual([3, 4, 5]);
    await f.close();
    await expect(writeSafetensors(join(dir, "no-such-dir", "x.safetensors"), {})).rejects.toThrow(/ENOENT/);
  });
});

describe("reading lazily", () => {
  it("reads one small tensor from a large file without touching the rest", async () => {
    const path = fresh("big");
    const big = ag.randomNormal([4_500_000], { seed: 1 });
    await writeSafetensors(path, { big, small: ag.tensor([1, 2, 3]) }, undefined, { dtype: "BF16" });
    const fileSize = readFileSync(path).length;
    const f = await openSafetensors(path);
    const headerEnd = f.bytesRead;
    expect(headerEnd).toBeLessThan(200);
    expect(Array.from((await f.read("small")).dataSync())).toEqual([1, 2, 3]);
    expect(f.bytesRead).toBe(headerEnd + 6);
    expect(fileSize).toBeGreaterThan(9_000_000);

    // The big one spans more than one 16 MiB decode chunk when widened; compare with the rounding done by the writer.
    const got = (await f.read("big", { dtype: "float64" })).dataSync();
    const want = ag.cast(ag.cast(big, "bfloat16"), "float64").dataSync();
    expect(got.length).toBe(want.length);
    let same = true;
    for (let i = 0; i < got.length; i++)
      if (got[i] !== want[i]) {
        same = false;
        break;
      }
    expect(same).toBe(true);
    expect(f.bytesRead).toBe(headerEnd + 6 + 9_000_000);
    await f.close();
  });
});

describe("checkpoints", () => {
  it("reads a sharded checkpoint through model.safetensors.index.json", async () => {
    const ck = join(dir, "sharded");
    mkdirSync(ck);
    await writeSafetensors(join(ck, "model-00001-of-00002.safetensors"), {
      "a.weight": ag.tensor([
        [1, 2],
        [3, 4],
      ]),
      "a.bias": ag.tensor([5, 6]),
    });
    await writeSafetensors(join(ck, "model-00002-of-00002.safetensors"), { "b.weight": ag.tensor([7], { dtype: "bfloat16" }) });
    const weightMap = {
      "a.weight": "model-00001-of-00002.safetensors",
      "a.bias": "model-00001-of-00002.safetensors",
      "b.weight": "model-00002-of-00002.safetensors",
    };
    writeFileSync(join(ck, "model.safetensors.index.json"), JSON.stringify({ metadata: { total_size: 26 }, weight_map: weightMap }));
    const c = await openCheckpoint(ck);
    expect([...c.names].sort()).toEqual(["a.bias", "a.weight", "b.weight"]);
    expect(c.files.length).toBe(2);
    expect(c.info("b.weight")).toEqual({ dtype: "BF16", shape: [1] });
    expect(await (await c.read("a.weight")).array()).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(Array.from((await c.read("b.weight")).dataSync())).toEqual([7]);
    await expect(c.read("c")).rejects.toThrow(/no tensor named "c"/);
    await c.close();

    writeFileSync(
      join(ck, "model.safetensors.index.json"),
      JSON.stringify({ weight_map: { ...weightMap, "lost.weight": "model-00002-of-00002.safetensors" } }),
    );
    await expect(openCheckpoint(ck)).rejects.toThrow(/"lost.weight" \(in model-00002-of-00002.safetensors\)/);
    writeFileSync(join(ck, "model.safetensors.index.json"), JSON.stringify({ weight_map: { x: "model-00003-of-00002.safetensors" } }));
    await expect(openCheckpoint(ck)).rejects.toThrow(/model-00003-of-00002.safetensors: cannot open \(ENOENT\)/);
    writeFileSync(join(ck, "model.safetensors.index.json"), JSON.stringify({ weight_map: { x: "../elsewhere.safetensors" } }));
    await expect(openCheckpoint(ck)).rejects.toThrow(/must be a shard file name in the same directory/);
    writeFileSync(join(ck, "model.safetensors.index.json"), "{ not json");
    await expect(openCheckpoint(ck)).rejects.toThrow(/index.json: not valid JSON/);
  });

  it("reads a single-file checkpoint and names what is wrong with a directory that is not a model", async () => {
    const ck = join(dir, "single");
    mkdirSync(ck);
    await writeSafetensors(join(ck, "model.safetensors"), { w: ag.tensor([1]) });
    const c = await openCheckpoint(ck);
    expect(c.names).toEqual(["w"]);
    await c.close();

    const empty = join(dir, "empty");
    mkdirSync(empty);
    await expect(openCheckpoint(empty)).rejects.toThrow(/not a model directory.*It is empty/);
    writeFileSync(join(empty, "pytorch_model.bin"), "");
    await expect(openCheckpoint(empty)).rejects.toThrow(/only safetensors checkpoints/);
    await expect(openCheckpoint(join(dir, "missing"))).rejects.toThrow(SafetensorsError);
    await expect(openCheckpoint(join(ck, "model.safetensors"))).rejects.toThrow(/is a file, not a model directory/);
  });
});

describe("malformed files", () => {
  const good = rawSafetensors(
    {
      __metadata__: { format: "pt" },
      a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
      b: { dtype: "BF16", shape: [1, 2], data_offsets: [8, 12] },
    },
    new Uint8Array(12).fill(0x3f),
  );

  async function expectError(bytes: Uint8Array, pattern: RegExp) {
    const path = writeBytes(fresh("bad"), bytes);
    const err = await openSafetensors(path).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SafetensorsError);
    expect((err as Error).message).toContain(path);
    expect((err as Error).message).toMatch(pattern);
  }

  it("each problem gets its own message naming the file", async () => {
    const entry = (e: unknown, data = new Uint8Array(8)) => rawSafetensors({ x: e }, data);
    await expectError(good.subarray(0, 5), /too short for the 8-byte header length/);
    await expectError(good.subarray(0, 20), /runs past the end/);
    await expectError(good.subarray(0, good.length - 1), /run past the 11-byte data section \(truncated\?\)/);
    await expectError(rawSafetensors({}, new Uint8Array(0), { headerLen: 1n << 40n }), /over the format's/);
    await expectError(rawSafetensors("{ nope", new Uint8Array(0)), /not valid JSON/);
    await expectError(rawSafetensors("[1, 2]", new Uint8Array(0)), /must be a JSON object/);
    await expectError(entry({ dtype: "Q7", shape: [2], data_offsets: [0, 8] }), /unknown dtype "Q7"/);
    await expectError(entry({ dtype: "I8", shape: [8], data_offsets: [0, 8] }), /dtype I8 is not supported here/);
    await expectError(entry({ dtype: "F32", shape: [3], data_offsets: [0, 8] }), /needs 12 bytes but data_offsets \[0, 8\] hold 8/);
    await expectError(entry({ dtype: "F32", shape: [-2], data_offsets: [0, 8] }), /shape must be an array of non-negative integers/);
    await expectError(entry({ dtype: "F32", shape: [2], data_offsets: [8, 0] }), /end before they begin/);
    await expectError(entry({ dtype: "F32", shape: [2] }), /data_offsets must be \[begin, end\]/);
    await expectError(
      rawSafetensors(
        { x: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, y: { dtype: "F32", shape: [1], data_offsets: [4, 8] } },
        new Uint8Array(8),
      ),
      /overlap tensor "x"/,
    );
    await expectError(rawSafetensors({ x: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), /gap of 4 bytes/);
    await expectError(
      rawSafetensors({ x: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, new Uint8Array(8)),
      /4 bytes after the last tensor/,
    );
    await expectError(rawSafetensors({ __metadata__: { n: 3 } }, new Uint8Array(0)), /"__metadata__"."n" must be a string/);
    await expectError(
      Uint8Array.from([...rawSafetensors("{}", new Uint8Array(0)).subarray(0, 8), 0xff, 0xfe, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20]),
      /not valid UTF-8/,
    );
  });

  it("random corruption only ever raises SafetensorsError (property)", async () => {
    const flips = fc
      .array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 })
      .map((fl) => {
        const b = good.slice();
        for (const [i, x] of fl) b[i]! ^= x;
        return b;
      });
    const truncations = fc.nat(good.length - 1).map((n) => good.subarray(0, n));
    const jsonHeaders = fc.tuple(fc.jsonValue({ maxDepth: 3 }), fc.uint8Array({ maxLength: 16 })).map(([h, d]) => rawSafetensors(h, d));
    const fieldJunk = fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.integer(),
      fc.double(),
      fc.constantFrom("F32", "BF16", "I64", "BOOL", "F8_E4M3"),
    );
    const entries = fc
      .tuple(
        fc.dictionary(
          fc.string({ maxLength: 4 }),
          fc.record(
            {
              dtype: fieldJunk,
              shape: fc.oneof(fc.array(fc.integer({ min: -2, max: 5 }), { maxLength: 3 }), fieldJunk),
              data_offsets: fc.oneof(fc.tuple(fc.integer({ min: -2, max: 40 }), fc.integer({ min: -2, max: 40 })), fieldJunk),
            },
            { requiredKeys: [] },
          ),
          { maxKeys: 3 },
        ),
        fc.uint8Array({ maxLength: 40 }),
      )
      .map(([h, d]) => rawSafetensors(h, d));
    const lengths = fc
      .tuple(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.uint8Array({ maxLength: 24 }))
      .map(([n, d]) => rawSafetensors("{}", d, { headerLen: n, pad: false }));
    const anyBytes = fc.uint8Array({ maxLength: 48 });

    await fc.assert(
      fc.asyncProperty(fc.oneof(flips, truncations, jsonHeaders, entries, lengths, anyBytes), async (bytes) => {
        const path = writeBytes(fresh("fuzz"), bytes);
        try {
          const f = await openSafetensors(path);
          for (const n of f.names) await f.read(n);
          await f.close();
        } catch (e) {
          if (!(e instanceof SafetensorsError)) throw new Error(`expected a SafetensorsError, got ${String(e)}`);
          expect((e as Error).message).toContain(path);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("the public API", () => {
  it("exports the safetensors module as ag.safetensors", async () => {
    const api = (ag as unknown as { safetensors?: { openSafetensors?: unknown } }).safetensors;
    expect(typeof api?.openSafetensors).toBe("function");
    expect(existsSync(dir)).toBe(true);
  });
});

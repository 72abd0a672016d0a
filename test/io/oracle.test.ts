/**
 * Safetensors against PyTorch: our bf16/f16 rounding equals torch's for every
 * kind of float32 (random bit patterns: subnormals, overflow, NaN, ties), a
 * file we write decodes in torch, and a file an independent Python writer
 * makes (torch doing the 16-bit conversions) reads back here exactly.
 */
import { join } from "node:path";
import { beforeAll, expect, it } from "vitest";
import { openSafetensors, writeSafetensors } from "../../src/io/safetensors.js";
import { fromStorage } from "../../src/ops/create.js";
import { describeOracle, runOracle } from "../helpers/torch.js";
import { tempDir } from "./helpers.js";

interface Decoded {
  dtype: string;
  shape: number[];
  bits: number[];
}
interface Answer {
  ours: Record<string, Decoded>;
  torch_bits: { BF16: number[]; F16: number[] };
  theirs: Record<string, { dtype: string; shape: number[]; f32_bits: number[] }>;
  header_len: number;
  aligned: boolean;
}

const dir = tempDir("st-oracle");
const N = 4000;
// Random bit patterns cover every exponent; the hand-picked ones are exact ties and edges.
const bits = new Uint32Array(N);
let s = 12345;
for (let i = 0; i < N; i++) {
  s = (Math.imul(s, 1103515245) + 12345) >>> 0;
  bits[i] = (s ^ Math.imul(s >>> 15, 2654435761)) >>> 0;
}
bits.set(
  [
    0x3f808000, 0x3f818000, 0x3f800001, 0x477fe000, 0x477ff000, 0x33800000, 0x33000000, 0x387fc000, 0x7f7fffff, 0x00000001, 0x80000000,
    0x7f800000, 0xff800000, 0x7fc00001,
  ],
  0,
);
const f32 = new Float32Array(bits.buffer);
const isNaN32 = (b: number) => (b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0;

describeOracle("safetensors vs torch", () => {
  let answer: Answer;
  const ours = join(dir, "ours.safetensors"),
    theirs = join(dir, "theirs.safetensors");
  beforeAll(async () => {
    const x = fromStorage(f32.slice(), [N], "float32");
    await writeSafetensors(join(dir, "bf16.safetensors"), { x }, undefined, { dtype: "BF16" });
    await writeSafetensors(join(dir, "f16.safetensors"), { x }, undefined, { dtype: "F16" });
    const [b, h] = await Promise.all([openSafetensors(join(dir, "bf16.safetensors")), openSafetensors(join(dir, "f16.safetensors"))]);
    await writeSafetensors(
      ours,
      {
        "x.bf16": await b.read("x", { dtype: "bfloat16" }),
        "x.f16": await h.read("x", { dtype: "float16" }),
        "x.f32": x,
        ids: fromStorage(Int32Array.of(1, -2, 3), [3], "int32"),
        mask: fromStorage(Uint8Array.of(1, 0), [2], "bool"),
      },
      { note: "from anchorgrad" },
    );
    await Promise.all([b.close(), h.close()]);
    answer = await runOracle<Answer>("safetensors_io.py", { ours, theirs, bits: Array.from(bits) });
  });

  for (const dt of ["BF16", "F16"] as const) {
    it(`float32 -> ${dt} rounds exactly as torch does (NaN stays NaN)`, () => {
      const got = answer.ours[`x.${dt.toLowerCase()}`]!.bits,
        want = answer.torch_bits[dt];
      const nanMask = dt === "BF16" ? 0x7f80 : 0x7c00,
        mant = dt === "BF16" ? 0x7f : 0x3ff;
      let mismatches = 0;
      for (let i = 0; i < N; i++) {
        if (isNaN32(bits[i]!)) expect((got[i]! & nanMask) === nanMask && (got[i]! & mant) !== 0).toBe(true);
        else if (got[i] !== want[i]) mismatches++;
      }
      expect(mismatches).toBe(0);
    });
  }

  it("torch reads our file: header padded to 8, every tensor aligned, values intact", () => {
    expect(answer.header_len % 8).toBe(0);
    expect(answer.aligned).toBe(true);
    expect(answer.ours["x.f32"]!.bits).toEqual(Array.from(bits));
    expect(answer.ours.ids).toEqual({ dtype: "I32", shape: [3], bits: [1, -2, 3] });
    expect(answer.ours.mask!.bits).toEqual([1, 0]);
  });

  it("we read a file written by an independent writer, torch doing the conversions", async () => {
    const f = await openSafetensors(theirs);
    expect(f.metadata).toEqual({ writer: "oracle" });
    for (const [name, want] of Object.entries(answer.theirs)) {
      expect(f.info(name)).toEqual({ dtype: want.dtype, shape: want.shape });
      const float = ["BF16", "F16", "F64"].includes(want.dtype);
      const t = await f.read(name, float ? { dtype: "float32" } : {});
      const got =
        t.dtype === "float32" ? Array.from(new Uint32Array((t.rawSync() as Float32Array).slice().buffer)) : Array.from(t.dataSync());
      expect(got, name).toEqual(want.f32_bits);
    }
    await f.close();
  });
});

/** The safetensors reader under fuzzing: valid files mutated, headers nested deep, raw bytes. */
import { join } from "node:path";
import fc from "fast-check";
import { describe, it } from "vitest";
import { openSafetensors } from "../../src/io/safetensors.js";
import { fuzz } from "./fuzz.js";
import { rawSafetensors, tempDir, writeBytes } from "./helpers.js";

const dir = tempDir("st-fuzz");
let fileNo = 0;

const WIDTH: Record<string, number> = { F32: 4, F64: 8, BF16: 2, F16: 2, I64: 8, I32: 4, U8: 1, BOOL: 1 };

/** A well-formed header and data section for the given tensors. */
function wellFormed(tensors: { dtype: string; shape: number[] }[]): { header: Record<string, unknown>; data: Uint8Array } {
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  let offset = 0;
  tensors.forEach((t, i) => {
    const bytes = t.shape.reduce((a, b) => a * b, 1) * WIDTH[t.dtype]!;
    header[`t${i}`] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  });
  return { header, data: new Uint8Array(offset).map((_, i) => (i * 37) & 0xff) };
}

const tensorsArb = fc.array(
  fc.record({ dtype: fc.constantFrom(...Object.keys(WIDTH)), shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }) }),
  { maxLength: 4 },
);

/** Every object and array in `v`, in order, with a setter for each of its slots. */
function slots(v: unknown, out: ((x: unknown) => void)[] = []): ((x: unknown) => void)[] {
  if (v && typeof v === "object") {
    for (const k of Object.keys(v)) {
      out.push((x) => ((v as Record<string, unknown>)[k] = x));
      slots((v as Record<string, unknown>)[k], out);
    }
  }
  return out;
}

const fileArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  // a well-formed file with one value anywhere in its header replaced
  fc.tuple(tensorsArb, fc.nat(), fc.jsonValue({ maxDepth: 3 })).map(([ts, at, value]) => {
    const { header, data } = wellFormed(ts);
    const s = slots(header);
    s[at % s.length]!(value);
    return rawSafetensors(header, data);
  }),
  // a well-formed file cut short or extended, or with a wrong length prefix
  fc
    .tuple(tensorsArb, fc.integer({ min: -64, max: 64 }), fc.option(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })))
    .map(([ts, delta, len]) => {
      const { header, data } = wellFormed(ts);
      const bytes = rawSafetensors(header, data, len === null ? {} : { headerLen: len });
      return delta < 0 ? bytes.subarray(0, Math.max(0, bytes.length + delta)) : new Uint8Array([...bytes, ...new Uint8Array(delta)]);
    }),
  // headers nested deeper than anything valid, as arrays or objects, closed or not
  fc
    .tuple(fc.integer({ min: 1, max: 6000 }), fc.constantFrom(["[", "]"], ['{"a":', "}"]), fc.boolean())
    .map(([depth, [open, close], closed]) =>
      rawSafetensors(open!.repeat(depth) + (closed ? "0" + close!.repeat(depth) : ""), new Uint8Array(0)),
    ),
  // any JSON text as the header, and any bytes as the file
  fc.json({ maxDepth: 4 }).map((text) => rawSafetensors(text, new Uint8Array(8))),
  fc.uint8Array({ maxLength: 256 }),
);

describe("the safetensors reader, fuzzed", () => {
  it("raises only AnchorErrors, within its time and memory limits", async () => {
    await fuzz(
      fileArb,
      (bytes) => bytes.length,
      async (bytes) => {
        const f = await openSafetensors(writeBytes(join(dir, `f${fileNo++}.safetensors`), bytes));
        try {
          for (const name of f.names) await f.read(name);
        } finally {
          await f.close();
        }
      },
    );
  });
});

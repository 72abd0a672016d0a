/** The JSONL readers (MPO pairs, SFT rows, POPE, meta files) under fuzzing. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, it } from "vitest";
import { readMeta, readMpoJsonl, readPope } from "../../src/data/index.js";
import { fuzz } from "../io/fuzz.js";
import { ONE_PIXEL_PNG } from "./fixtures.js";

const dir = mkdtempSync(join(tmpdir(), "ag-jsonl-fuzz-"));
writeFileSync(join(dir, "good.png"), ONE_PIXEL_PNG);
writeFileSync(join(dir, "text.png"), "not an image");
execFileSync("mkfifo", [join(dir, "pipe.png")]);
let fileNo = 0;

const image = fc.constantFrom("good.png", "text.png", "pipe.png", "gone.png", ".", "/dev/zero", "");
const text = fc.oneof(fc.string({ maxLength: 20 }), fc.constant("<image>\n"), fc.constant(""));
const validRow = fc.record(
  {
    image: fc.oneof(image, fc.array(image, { maxLength: 3 })),
    question: text,
    chosen: text,
    rejected: text,
    conversations: fc.array(fc.record({ from: fc.constantFrom("human", "gpt", "x"), value: text }), { maxLength: 3 }),
    label: fc.constantFrom("yes", "No", "maybe"),
    text,
  },
  { requiredKeys: [] },
);

/** One line's bytes: a plausible row, any JSON, any text, any bytes, or a deep or long one. */
const line: fc.Arbitrary<Uint8Array> = fc.oneof(
  validRow.map((r) => Buffer.from(JSON.stringify(r))),
  fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v) ?? "null")),
  fc.string({ unit: "binary", maxLength: 40 }).map((s) => Buffer.from(s)),
  fc.uint8Array({ maxLength: 40 }),
  fc.integer({ min: 1, max: 5000 }).map((d) => Buffer.from(`{"image":${"[".repeat(d)}${"]".repeat(d)}}`)),
  fc.integer({ min: 200, max: 3000 }).map((n) => Buffer.from(JSON.stringify({ question: "q".repeat(n), chosen: "a", rejected: "b" }))),
);

const fileArb = fc.record({
  bom: fc.boolean(),
  lines: fc.array(line, { maxLength: 6 }),
  eol: fc.constantFrom("\n", "\r\n"),
  skipBad: fc.boolean(),
  kind: fc.constantFrom("preference" as const, "sft" as const),
  reader: fc.constantFrom("mpo", "pope", "meta"),
});
type FileCase = typeof fileArb extends fc.Arbitrary<infer T> ? T : never;

function bytesOf(c: FileCase): Buffer {
  const parts = c.lines.flatMap((l) => [Buffer.from(l), Buffer.from(c.eol)]);
  return Buffer.concat([Buffer.from(c.bom ? [0xef, 0xbb, 0xbf] : []), ...parts]);
}

describe("the JSONL readers, fuzzed", () => {
  it("raise only AnchorErrors, within their time and memory limits", async () => {
    await fuzz(
      fileArb,
      (c) => bytesOf(c).length,
      (c) => {
        const f = join(dir, `f${fileNo++}.jsonl`);
        writeFileSync(f, bytesOf(c));
        // a small row limit, so that the fuzzer's short rows cross it too
        if (c.reader === "mpo") return readMpoJsonl(f, { skipBad: c.skipBad, kind: c.kind, maxRowBytes: 1024 });
        if (c.reader === "pope") return readPope(f);
        return readMeta(f);
      },
    );
  });
});

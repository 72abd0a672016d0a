/** Data files a user gets wrong: missing or broken images, huge rows, a BOM, an empty file, bytes that are not UTF-8. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DataError, readMpoJsonl, readMpoMeta, readPope } from "../../src/data/index.js";
import { ONE_PIXEL_PNG } from "./fixtures.js";

/** A folder with good.png (an image) and html.png (an HTML page saved under an image name). */
function folder(): string {
  const d = mkdtempSync(join(tmpdir(), "ag-bad-rows-"));
  writeFileSync(join(d, "good.png"), ONE_PIXEL_PNG);
  writeFileSync(join(d, "html.png"), "<!DOCTYPE html><html>403 Forbidden</html>");
  writeFileSync(join(d, "empty.png"), "");
  return d;
}
const row = (image: string | null, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ ...(image !== null && { image }), question: "<image>\nQ?", chosen: "yes", rejected: "no", ...extra });

function jsonl(lines: (string | Buffer)[]): string {
  const d = folder(),
    f = join(d, "pairs.jsonl");
  writeFileSync(f, Buffer.concat(lines.map((l) => Buffer.concat([Buffer.from(l), Buffer.from("\n")]))));
  return f;
}

describe("images of data rows", () => {
  it("a missing image is a bad row naming file:line and the image path", () => {
    const f = jsonl([row("good.png"), row("gone.png")]);
    expect(() => readMpoJsonl(f)).toThrow(DataError);
    expect(() => readMpoJsonl(f)).toThrow(/pairs\.jsonl:2: image ".*gone\.png": cannot open \(ENOENT\)/);
  });

  it("an undecodable image (not an image, or empty) is a bad row naming file:line and the image path", () => {
    expect(() => readMpoJsonl(jsonl([row("html.png")]))).toThrow(
      /pairs\.jsonl:1: image ".*html\.png": is not an image \(it starts with 3c 21 44 4f/,
    );
    expect(() => readMpoJsonl(jsonl([row(null), row("empty.png")]))).toThrow(/pairs\.jsonl:2: image ".*empty\.png": is empty/);
  });

  it("--skip-bad skips rows with bad images and counts them", () => {
    const f = jsonl([row("good.png"), row("gone.png"), row(null, { image: ["good.png", "html.png"] }), row("good.png")]);
    const { rows, skipped } = readMpoJsonl(f, { skipBad: true });
    expect(rows.map((r) => r.source.line)).toEqual([1, 4]);
    expect(skipped).toHaveLength(2);
    expect(skipped[0]).toMatch(/pairs\.jsonl:2: image ".*gone\.png"/);
    expect(skipped[1]).toMatch(/pairs\.jsonl:3: image ".*html\.png"/);
  });

  it("a meta file's data sets count their skipped rows too", () => {
    const f = jsonl([row("good.png"), row("gone.png")]);
    const meta = join(f, "..", "meta.json");
    writeFileSync(meta, JSON.stringify({ A: { root: ".", annotation: "pairs.jsonl" } }));
    const r = readMpoMeta(meta, { skipBad: true });
    expect([r.rows.length, r.skipped.length]).toEqual([1, 1]);
  });
});

describe("the shape of a JSONL file", () => {
  it("an oversized row (10 MB) names file:line, and the rows after it still read", () => {
    const big = row("good.png", { chosen: "x".repeat(10_000_000) });
    const f = jsonl([row("good.png"), big, row("good.png")]);
    expect(() => readMpoJsonl(f)).toThrow(/pairs\.jsonl:2: the row is 10000\d+ bytes, over the 1048576-byte row limit/);
    expect(readMpoJsonl(f, { skipBad: true }).rows.map((r) => r.source.line)).toEqual([1, 3]);
    expect(readMpoJsonl(f, { maxRowBytes: 20_000_000 }).rows).toHaveLength(3);
  });

  it("a UTF-8 BOM on line 1 is accepted", () => {
    const f = jsonl([Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(row("good.png"))]), row("good.png")]);
    expect(readMpoJsonl(f).rows.map((r) => r.chosen)).toEqual(["yes", "yes"]);
    const pope = join(f, "..", "pope.jsonl");
    writeFileSync(pope, "\uFEFF" + JSON.stringify({ image: "good.png", text: "Q", label: "yes" }));
    expect(readPope(pope)).toHaveLength(1);
  });

  it("an empty file is an error that names it", () => {
    const f = jsonl([]);
    writeFileSync(f, "");
    expect(() => readMpoJsonl(f)).toThrow(/pairs\.jsonl: the file is empty: it has no JSON rows/);
    writeFileSync(f, "\n  \n\r\n");
    expect(() => readMpoJsonl(f, { skipBad: true })).toThrow(/pairs\.jsonl: the file is empty/);
    expect(() => readPope(f)).toThrow(/pairs\.jsonl: the file is empty/);
  });

  it("a row that is not UTF-8 is a bad row naming file:line", () => {
    const f = jsonl([row("good.png"), Buffer.from([0x7b, 0xff, 0xfe, 0x7d])]);
    expect(() => readMpoJsonl(f)).toThrow(/pairs\.jsonl:2: the row is not valid UTF-8 text/);
  });

  it("a row nested thousands of levels deep is a bad row, not a stack overflow", () => {
    const f = jsonl([`{"image": ${"[".repeat(5000)}${"]".repeat(5000)}, "question": "Q", "chosen": "a", "rejected": "b"}`]);
    expect(() => readMpoJsonl(f)).toThrow(/pairs\.jsonl:1: the row is nested deeper than 64 levels/);
  });

  it("CRLF line endings read as the same rows", () => {
    const d = folder(),
      f = join(d, "crlf.jsonl");
    writeFileSync(f, [row("good.png"), row("good.png")].join("\r\n") + "\r\n");
    expect(readMpoJsonl(f).rows).toHaveLength(2);
  });
});

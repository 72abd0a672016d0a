/** The MPO reader: rows, meta files, repeat_time, and errors that name file and line. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DataError, readMeta, readMpoJsonl, readMpoMeta, readPope } from "../../src/data/index.js";
import { ONE_PIXEL_PNG } from "./fixtures.js";

/** A fresh folder holding a.png, the image the rows below name. */
const dir = () => {
  const d = mkdtempSync(join(tmpdir(), "ag-mpo-"));
  writeFileSync(join(d, "a.png"), ONE_PIXEL_PNG);
  return d;
};
const row = (o: Record<string, unknown>) =>
  JSON.stringify({ image: "a.png", question: "<image>\nQ?", chosen: "good", rejected: "bad", ...o });

describe("readMpoJsonl", () => {
  it("reads rows, resolves images against the root and strips the <image> tag", () => {
    const d = dir(),
      f = join(d, "p.jsonl");
    writeFileSync(f, [row({}), "", row({ image: ["x.png", "/abs/y.png"] }), row({ image: undefined })].join("\n"));
    const { rows, skipped } = readMpoJsonl(f, { root: "/data", checkImages: false });
    expect(skipped).toEqual([]);
    expect(rows.map((r) => r.images)).toEqual([["/data/a.png"], ["/data/x.png", "/abs/y.png"], []]);
    expect(rows[0]).toMatchObject({ question: "Q?", chosen: "good", rejected: "bad", source: { file: f, line: 1 } });
    expect(rows[1]!.source.line).toBe(3);
  });

  it.each([
    ["{not json", /p\.jsonl:2: the row is not valid JSON/],
    [row({ chosen: 3 }), /p\.jsonl:2: field "chosen" must be a string, got 3/],
    [row({ rejected: undefined }), /p\.jsonl:2: field "rejected" must be a string, got nothing/],
    [row({ image: 5 }), /p\.jsonl:2: field "image" must be a path/],
    ["[1, 2]", /p\.jsonl:2: a row must be a JSON object/],
    [row({ chosen: "" }), /p\.jsonl:2: "chosen" and "rejected" must be non-empty/],
  ])("a malformed row %s is an error naming file and line", (bad, msg) => {
    const d = dir(),
      f = join(d, "p.jsonl");
    writeFileSync(f, [row({}), bad, row({})].join("\n"));
    expect(() => readMpoJsonl(f)).toThrow(DataError);
    expect(() => readMpoJsonl(f)).toThrow(msg);
    const r = readMpoJsonl(f, { skipBad: true });
    expect(r.rows.map((x) => x.source.line)).toEqual([1, 3]);
    expect(r.skipped).toHaveLength(1);
    expect(r.skipped[0]).toMatch(msg);
  });

  it("a missing file names the file", () => {
    expect(() => readMpoJsonl("/nonexistent/x.jsonl")).toThrow(/\/nonexistent\/x\.jsonl: cannot open \(ENOENT\)/);
  });

  it("SFT rows: conversations or chosen without rejected", () => {
    const d = dir(),
      f = join(d, "s.jsonl");
    writeFileSync(
      f,
      [
        JSON.stringify({
          image: "a.png",
          conversations: [
            { from: "human", value: "<image>\nWhat?" },
            { from: "gpt", value: "That." },
          ],
        }),
        JSON.stringify({ question: "Q", chosen: "A" }),
        JSON.stringify({
          image: "a.png",
          conversations: [
            { from: "human", value: "a" },
            { from: "gpt", value: "b" },
            { from: "human", value: "c" },
          ],
        }),
      ].join("\n"),
    );
    expect(() => readMpoJsonl(f, { kind: "sft" })).toThrow(/s\.jsonl:3: .*multi-turn rows are not supported/);
    const { rows, skipped } = readMpoJsonl(f, { kind: "sft", skipBad: true });
    expect(rows.map((r) => [r.question, r.chosen, r.rejected])).toEqual([
      ["What?", "That.", null],
      ["Q", "A", null],
    ]);
    expect(skipped).toHaveLength(1);
  });

  it("property: any row written as JSON reads back as written", () => {
    const text = fc.string({ minLength: 1, maxLength: 30 }).filter((s) => !s.includes("<image>") && s.trim() === s && s.length > 0);
    fc.assert(
      fc.property(fc.array(fc.record({ question: text, chosen: text, rejected: text }), { minLength: 1, maxLength: 6 }), (rs) => {
        const d = dir(),
          f = join(d, "p.jsonl");
        writeFileSync(f, rs.map((r) => JSON.stringify(r)).join("\n"));
        expect(readMpoJsonl(f).rows.map(({ question, chosen, rejected }) => ({ question, chosen, rejected }))).toEqual(rs);
      }),
      { numRuns: 20 },
    );
  });
});

describe("readMpoMeta", () => {
  it("resolves root and annotation against the meta's folder and applies repeat_time", () => {
    const d = dir();
    writeFileSync(join(d, "a.jsonl"), [row({ chosen: "1" }), row({ chosen: "2" })].join("\n"));
    writeFileSync(join(d, "b.jsonl"), Array.from({ length: 10 }, (_, i) => row({ chosen: `b${i}` })).join("\n"));
    writeFileSync(
      join(d, "meta.json"),
      JSON.stringify({
        A: { root: "img", annotation: "a.jsonl", repeat_time: 2 },
        B: { root: "/abs", annotation: "b.jsonl", repeat_time: 0.5 },
      }),
    );
    const opts = { checkImages: false };
    const m = readMpoMeta(join(d, "meta.json"), { ...opts, seed: 3 });
    expect(m.datasets.map((x) => [x.name, x.count])).toEqual([
      ["A", 4],
      ["B", 5],
    ]);
    expect(m.rows.slice(0, 4).map((r) => r.chosen)).toEqual(["1", "2", "1", "2"]);
    expect(m.rows[0]!.images).toEqual([join(d, "img", "a.png")]);
    expect(m.rows[4]!.images).toEqual(["/abs/a.png"]);
    // the subset is seeded: same seed, same rows; other seed, (almost surely) other rows
    expect(readMpoMeta(join(d, "meta.json"), { ...opts, seed: 3 }).rows.map((r) => r.chosen)).toEqual(m.rows.map((r) => r.chosen));
    const others = [4, 5, 6].map((s) =>
      readMpoMeta(join(d, "meta.json"), { ...opts, seed: s })
        .rows.slice(4)
        .map((r) => r.chosen)
        .join(),
    );
    expect(
      others.some(
        (o) =>
          o !==
          m.rows
            .slice(4)
            .map((r) => r.chosen)
            .join(),
      ),
    ).toBe(true);
  });

  it("bad meta entries name the data set and field", () => {
    const d = dir(),
      f = join(d, "meta.json");
    writeFileSync(f, JSON.stringify({ X: { annotation: "a.jsonl", repeat_time: 1.5 } }));
    expect(() => readMeta(f)).toThrow(/meta\.json: data set "X": field "repeat_time" must be/);
    writeFileSync(f, JSON.stringify({ X: { root: "." } }));
    expect(() => readMeta(f)).toThrow(/data set "X": field "annotation" must be a path/);
    writeFileSync(f, "{oops");
    expect(() => readMeta(f)).toThrow(/meta\.json: not valid JSON/);
  });
});

describe("readPope", () => {
  it("reads POPE rows and rejects bad labels with the line", () => {
    const d = dir(),
      f = join(d, "pope.jsonl");
    writeFileSync(
      f,
      [
        JSON.stringify({ question_id: 7, image: "e.png", text: "Is there a cat?", label: "Yes" }),
        JSON.stringify({ image: "e.png", text: "Q", label: "maybe" }),
      ].join("\n"),
    );
    expect(() => readPope(f)).toThrow(/pope\.jsonl:2: field "label" must be "yes" or "no", got "maybe"/);
    writeFileSync(f, JSON.stringify({ question_id: 7, image: "e.png", text: "Is there a cat?", label: "Yes" }));
    expect(readPope(f)).toEqual([{ id: 7, image: join(d, "e.png"), question: "Is there a cat?", label: "yes" }]);
  });
});

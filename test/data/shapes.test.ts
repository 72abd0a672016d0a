/** The synthetic shapes set: deterministic, grounded chosen answers, prior-driven rejected ones, POPE splits. */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import { generateShapes, POPE_SPLITS, readMpoMeta, readPope, type ShapesManifest } from "../../src/data/index.js";
import { COLOUR_WEIGHTS, COLOURS, popeNegatives } from "../../src/data/shapes.js";
import { Stream } from "../../src/data/rng.js";

const words = (s: string) => s.match(/[A-Za-z]+|[^\sA-Za-z]/g) ?? [];

describe("generateShapes", () => {
  let a: string, b: string, m: ShapesManifest;
  beforeAll(async () => {
    a = mkdtempSync(join(tmpdir(), "ag-shapes-"));
    b = mkdtempSync(join(tmpdir(), "ag-shapes-"));
    m = await generateShapes({ out: a, seed: 11, sftImages: 24, pairImages: 40, evalImages: 12 });
    await generateShapes({ out: b, seed: 11, sftImages: 24, pairImages: 40, evalImages: 12 });
  });

  it("is deterministic in the seed (text and pixels)", async () => {
    for (const f of ["sft.jsonl", "pairs.jsonl", "pope_adversarial.jsonl", "manifest.json"])
      expect(readFileSync(join(a, f), "utf8")).toBe(readFileSync(join(b, f), "utf8"));
    expect(readFileSync(join(a, "images/pairs_0007.png")).equals(readFileSync(join(b, "images/pairs_0007.png")))).toBe(true);
    const other = mkdtempSync(join(tmpdir(), "ag-shapes-"));
    await generateShapes({ out: other, seed: 12, sftImages: 24, pairImages: 40, evalImages: 12 });
    expect(readFileSync(join(other, "pairs.jsonl"), "utf8")).not.toBe(readFileSync(join(a, "pairs.jsonl"), "utf8"));
  });

  it("writes RGB PNGs of the requested size, and a blank one", async () => {
    const meta = await sharp(join(a, "images/eval_0003.png")).metadata();
    expect([meta.format, meta.width, meta.height, meta.channels]).toEqual(["png", 32, 32, 3]);
    const { data } = await sharp(join(a, m.blankImage)).raw().toBuffer({ resolveWithObject: true });
    expect(new Set(data).size).toBe(1);
  });

  it("pairs read back through the MPO reader; chosen and rejected differ in 1–3 words and share the rest", () => {
    const { rows, skipped } = readMpoMeta(join(a, m.pairsMeta));
    expect(skipped).toEqual([]);
    expect(rows).toHaveLength(40);
    for (const r of rows) {
      const c = words(r.chosen),
        j = words(r.rejected!);
      const common = c.filter((w, i) => j[i] === w).length;
      expect(r.chosen).not.toBe(r.rejected);
      expect(Math.max(c.length, j.length) - common).toBeLessThanOrEqual(3);
      expect(common / c.length).toBeGreaterThanOrEqual(0.5);
      expect(r.images[0]).toMatch(/images\/pairs_\d{4}\.png$/);
    }
    // rejected answers follow the prior: the most frequent other colour, and "Yes" on absent objects
    const colourPairs = rows.filter((r) => r.question.startsWith("What color"));
    expect(colourPairs.length).toBeGreaterThan(0);
    for (const r of colourPairs) expect(words(r.rejected!).at(-2)).toBe(words(r.chosen).at(-2) === "red" ? "blue" : "red");
    const existence = rows.filter((r) => r.question.startsWith("Is there"));
    expect(existence.length).toBeGreaterThan(0);
    for (const r of existence) expect(new Set([words(r.chosen)[0], words(r.rejected!)[0]])).toEqual(new Set(["No", "Yes"]));
    expect(existence.some((r) => r.chosen.startsWith("No"))).toBe(true);
  });

  it("SFT rows are conversations read as single turns", () => {
    const { rows } = readMpoMeta(join(a, m.sftMeta), { kind: "sft" });
    expect(rows.length).toBe(m.counts.sft);
    expect(rows.every((r) => r.rejected === null && r.images.length === 1)).toBe(true);
    expect(rows.some((r) => r.chosen.startsWith("No, there is no"))).toBe(true);
  });

  it("SFT existence questions ask about every object in the caption (yes) and as many absent ones (no)", () => {
    const { rows } = readMpoMeta(join(a, m.sftMeta), { kind: "sft" });
    const byImage = new Map<string, typeof rows>();
    for (const r of rows) byImage.set(r.images[0]!, [...(byImage.get(r.images[0]!) ?? []), r]);
    expect(byImage.size).toBe(24);
    const objectsOf = (caption: string) => [...caption.matchAll(/an? (\w+ \w+)/gi)].map((x) => x[1]!);
    for (const turns of byImage.values()) {
      const present = objectsOf(turns.find((t) => t.question === "Describe the image.")!.chosen);
      const asked = turns
        .filter((t) => t.question.startsWith("Is there"))
        .map((t) => ({ object: t.question.match(/^Is there an? (\w+ \w+) in/)![1]!, yes: t.chosen.startsWith("Yes") }));
      expect(
        asked
          .filter((q) => q.yes)
          .map((q) => q.object)
          .sort(),
      ).toEqual([...present].sort());
      const no = asked.filter((q) => !q.yes).map((q) => q.object);
      expect(no).toHaveLength(present.length);
      expect(new Set(no).size).toBe(no.length);
      for (const o of no) expect(present).not.toContain(o);
    }
  });

  it("existence pairs cannot be answered from the question alone: frequent objects are chosen with both answers", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ag-shapes-"));
    const big = await generateShapes({ out: dir, seed: 3, sftImages: 1, pairImages: 400, evalImages: 1, imageSize: 8 });
    const labels = new Map<string, Set<string>>();
    for (const r of readMpoMeta(join(dir, big.pairsMeta)).rows.filter((r) => r.question.startsWith("Is there"))) {
      labels.set(r.question, (labels.get(r.question) ?? new Set()).add(words(r.chosen)[0]!));
    }
    const frequent = Object.entries(big.objectFrequency)
      .sort((x, y) => y[1] - x[1])
      .slice(0, 4)
      .map(([o]) => `Is there a ${o} in the image?`);
    for (const q of frequent) expect([...(labels.get(q) ?? [])].sort(), q).toEqual(["No", "Yes"]);
  });

  it("POPE splits are balanced yes/no and negatives are absent objects", () => {
    for (const split of POPE_SPLITS) {
      const rows = readPope(join(a, m.pope[split]));
      expect(rows.length).toBe(m.counts.pope[split]);
      expect(rows.filter((r) => r.label === "yes").length).toBe(rows.length / 2);
      const byImage = new Map<string, string[]>();
      for (const r of rows) if (r.label === "yes") byImage.set(r.image, [...(byImage.get(r.image) ?? []), r.question]);
      for (const r of rows) if (r.label === "no") expect(byImage.get(r.image)).not.toContain(r.question);
    }
    // the vocabulary covers every word of every file
    const all = ["sft.jsonl", "pairs.jsonl", ...Object.values(m.pope)].map((f) => readFileSync(join(a, f), "utf8")).join(" ");
    const texts = [...all.matchAll(/"(?:text|value|question|chosen|rejected)":"([^"]*)"/g)].map((x) => x[1]!.replace("<image>\\n", ""));
    for (const t of texts) for (const w of words(t)) expect(m.words).toContain(w);
  });
});

describe("popeNegatives", () => {
  const present = [{ colour: "red", kind: "circle" }] as const;
  const freq = { "red square": 50, "blue circle": 40, "green triangle": 30 };

  it("popular: the most frequent absent objects", () => {
    expect(popeNegatives(present, "popular", 2, new Stream(0), freq, () => 0).map((o) => `${o.colour} ${o.kind}`)).toEqual([
      "red square",
      "blue circle",
    ]);
  });

  it("adversarial: absent objects sharing a colour or kind with a present one", () => {
    const got = popeNegatives(present, "adversarial", 5, new Stream(0), freq, () => 0);
    for (const o of got) expect(o.colour === "red" || o.kind === "circle").toBe(true);
  });

  it("random: never a present object", () => {
    for (let s = 0; s < 20; s++)
      for (const o of popeNegatives(present, "random", 3, new Stream(s), freq, () => 0))
        expect(`${o.colour} ${o.kind}`).not.toBe("red circle");
  });

  it("the prior puts red first", () => {
    expect(COLOURS[COLOUR_WEIGHTS.indexOf(Math.max(...COLOUR_WEIGHTS))]).toBe("red");
  });
});

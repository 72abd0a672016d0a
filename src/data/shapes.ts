/**
 * The synthetic "shapes" data set: small images with 1–3 coloured shapes,
 * and text about them whose errors come from a language prior.
 *
 * Colours and kinds are drawn with skewed frequencies (red and circles are
 * the most common), so a model that ignores the image still does well by
 * guessing the frequent answer: that is the language prior a hallucinating
 * model falls back to. The preference pairs pit a grounded answer (chosen)
 * against that fallback (rejected) and the two share all but one to three
 * tokens, the regime in which DPO's likelihood displacement is reported:
 *
 *   colour    "What color is the circle?"    "The circle is blue." / "The circle is red."
 *   caption   "Describe the image."          "A blue circle and a green square." / "A blue circle and a red square."
 *   existence "Is there a red circle in ...?" "No, there is no red circle." / "Yes, there is a red circle."   (yes bias)
 *             and, as often, about a present object: "Yes, there is a ..." / "No, there is no ..." (omission)
 *
 * The SFT set asks, besides captions and colours, POPE-style existence
 * questions balanced so that the language prior cannot answer them, and
 * which colours are present: a question answerable from colour alone, which
 * is what a small model first learns to see.
 *
 * The POPE-style evaluation asks "Is there a <colour> <kind> in the image?"
 * for every object present and for as many absent ones, picked three ways
 * (POPE's splits): random (uniform), popular (most frequent in the training
 * images) and adversarial. POPE's adversarial split uses objects that
 * co-occur most with the ones present; in this synthetic world objects are
 * drawn independently, so co-occurrence would only repeat popularity, and
 * the adversarial negatives are instead the absent objects that share a
 * colour or a kind with a present one ("red square" next to a red circle),
 * ranked by co-occurrence: the binding errors a weak model makes.
 *
 * Everything is written as PNG files plus JSONL in InternVL's formats, so
 * training reads it through the same path as real data.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { AnchorError } from "../tensor/errors.js";
import { Stream } from "./rng.js";

export const COLOURS = ["red", "blue", "green", "yellow"] as const;
export const KINDS = ["circle", "square", "triangle"] as const;
export type Colour = (typeof COLOURS)[number];
export type Kind = (typeof KINDS)[number];
/** Draw frequencies: the language prior. */
export const COLOUR_WEIGHTS = [0.4, 0.25, 0.2, 0.15];
export const KIND_WEIGHTS = [0.45, 0.35, 0.2];
const RGB: Record<Colour, string> = { red: "#d62728", blue: "#1f4fd8", green: "#2ca02c", yellow: "#f2c80f" };
const BACKGROUND = "#eeeeee";

export interface ShapeObject {
  colour: Colour;
  kind: Kind;
}
export interface Scene {
  objects: (ShapeObject & { cell: number; size: number; dx: number; dy: number })[];
}

export const objectName = (o: ShapeObject): string => `${o.colour} ${o.kind}`;
const ALL_OBJECTS: ShapeObject[] = COLOURS.flatMap((colour) => KINDS.map((kind) => ({ colour, kind })));

export interface ShapesOptions {
  out: string;
  seed: number;
  /** Images for SFT, for preference pairs and for the evaluation (defaults 192, 160, 48). */
  sftImages?: number;
  pairImages?: number;
  evalImages?: number;
  /** Square image side in pixels (default 32; shapes sit in a 2×2 grid). */
  imageSize?: number;
}

/** What the generator wrote, with paths relative to `out`. */
export interface ShapesManifest {
  seed: number;
  imageSize: number;
  sftMeta: string;
  pairsMeta: string;
  pope: Record<PopeSplit, string>;
  blankImage: string;
  counts: { sft: number; pairs: number; pope: Record<PopeSplit, number> };
  /** How often each object appears in the training images (sft + pairs). */
  objectFrequency: Record<string, number>;
  /** Every word and punctuation mark in the text, for a word-level tokenizer. */
  words: string[];
}

export type PopeSplit = "random" | "popular" | "adversarial";
export const POPE_SPLITS: readonly PopeSplit[] = ["random", "popular", "adversarial"];

function sampleScene(rng: Stream, size: number): Scene {
  const n = 1 + rng.int(3);
  const cells = rng.shuffle([0, 1, 2, 3]).slice(0, n);
  const objects: Scene["objects"] = [];
  for (const cell of cells) {
    let o: ShapeObject;
    do o = { colour: COLOURS[rng.weighted(COLOUR_WEIGHTS)]!, kind: KINDS[rng.weighted(KIND_WEIGHTS)]! };
    while (objects.some((p) => p.colour === o.colour && p.kind === o.kind));
    const cellSize = size / 2;
    const s = cellSize * (0.6 + 0.25 * rng.next());
    const slack = cellSize - s;
    objects.push({ ...o, cell, size: s, dx: slack * rng.next(), dy: slack * rng.next() });
  }
  return { objects: objects.sort((a, b) => a.cell - b.cell) };
}

function sceneSvg(scene: Scene, size: number): string {
  const half = size / 2;
  const shapes = scene.objects.map((o) => {
    const x = (o.cell % 2) * half + o.dx,
      y = Math.floor(o.cell / 2) * half + o.dy,
      s = o.size,
      fill = RGB[o.colour];
    switch (o.kind) {
      case "circle":
        return `<circle cx="${x + s / 2}" cy="${y + s / 2}" r="${s / 2}" fill="${fill}"/>`;
      case "square":
        return `<rect x="${x}" y="${y}" width="${s}" height="${s}" fill="${fill}"/>`;
      case "triangle":
        return `<polygon points="${x + s / 2},${y} ${x + s},${y + s} ${x},${y + s}" fill="${fill}"/>`;
    }
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}"><rect width="${size}" height="${size}" fill="${BACKGROUND}"/>${shapes.join("")}</svg>`;
}

async function writePng(svg: string, file: string): Promise<void> {
  await sharp(Buffer.from(svg)).removeAlpha().png().toFile(file);
}

// --- text -------------------------------------------------------------------

const article = (o: ShapeObject) => `a ${objectName(o)}`;
const listObjects = (os: readonly ShapeObject[]): string =>
  os.length === 1 ? article(os[0]!) : `${os.slice(0, -1).map(article).join(", ")} and ${article(os[os.length - 1]!)}`;
const capitalise = (s: string) => s[0]!.toUpperCase() + s.slice(1);

export const caption = (os: readonly ShapeObject[]): string => `${capitalise(listObjects(os))}.`;
export const colourAnswer = (kind: Kind, colour: Colour): string => `The ${kind} is ${colour}.`;
export const existenceAnswer = (o: ShapeObject, present: boolean): string =>
  present ? `Yes, there is ${article(o)}.` : `No, there is no ${objectName(o)}.`;
export const existenceQuestion = (o: ShapeObject): string => `Is there ${article(o)} in the image?`;
export const CAPTION_QUESTION = "Describe the image.";
export const COLOURS_QUESTION = "What colors are in the image?";
/** The colours present, in a fixed order: answerable from colour alone, the first visual skill a model picks up. */
export const coloursAnswer = (os: readonly ShapeObject[]): string => {
  const cs: string[] = COLOURS.filter((c) => os.some((o) => o.colour === c));
  return cs.length === 1 ? `The color is ${cs[0]}.` : `The colors are ${cs.slice(0, -1).join(", ")} and ${cs[cs.length - 1]}.`;
};
export const colourQuestion = (kind: Kind): string => `What color is the ${kind}?`;

/** The most frequent colour under the prior other than `not`. */
const priorColour = (not: Colour): Colour =>
  COLOURS.filter((c) => c !== not).sort((a, b) => COLOUR_WEIGHTS[COLOURS.indexOf(b)]! - COLOUR_WEIGHTS[COLOURS.indexOf(a)]!)[0]!;
const has = (scene: Scene, o: ShapeObject) => scene.objects.some((p) => p.colour === o.colour && p.kind === o.kind);
const uniqueKinds = (scene: Scene) => KINDS.filter((k) => scene.objects.filter((o) => o.kind === k).length === 1);

interface Qa {
  question: string;
  answer: string;
}

/**
 * SFT turns for one scene: its caption, the colours present, a colour
 * question, and POPE-style existence questions: one "yes" for every object
 * present and as many "no"s. Each negative is, by turns, an absent object
 * that shares a colour or a kind with a present one (a binding error) or
 * one drawn in proportion to how often objects appear: so every object is
 * asked about as absent about as often as present, and the answer cannot be
 * read off the language prior.
 */
function sftTurns(scene: Scene, rng: Stream, popularity: (o: ShapeObject) => number): Qa[] {
  const turns: Qa[] = [
    { question: CAPTION_QUESTION, answer: caption(scene.objects) },
    { question: COLOURS_QUESTION, answer: coloursAnswer(scene.objects) },
  ];
  const kinds = uniqueKinds(scene);
  if (kinds.length) {
    const k = kinds[rng.int(kinds.length)]!;
    turns.push({ question: colourQuestion(k), answer: colourAnswer(k, scene.objects.find((o) => o.kind === k)!.colour) });
  }
  let absent = ALL_OBJECTS.filter((o) => !has(scene, o));
  scene.objects.forEach((present, i) => {
    turns.push({ question: existenceQuestion(present), answer: existenceAnswer(present, true) });
    const binding = absent.filter((o) => scene.objects.some((p) => p.colour === o.colour || p.kind === o.kind));
    const pool = i % 2 === 0 && binding.length ? binding : absent;
    const neg = pool[rng.weighted(pool.map(popularity))]!;
    absent = absent.filter((o) => o !== neg);
    turns.push({ question: existenceQuestion(neg), answer: existenceAnswer(neg, false) });
  });
  return turns;
}

interface Pair {
  question: string;
  chosen: string;
  rejected: string;
}

/** One preference pair for a scene, its rejected answer driven by the prior. */
function preferencePair(scene: Scene, rng: Stream, popularity: (o: ShapeObject) => number): Pair {
  const kinds = uniqueKinds(scene);
  const type = rng.weighted([0.4, 0.3, 0.3]);
  if (type === 1 && kinds.length) {
    const k = kinds[rng.int(kinds.length)]!;
    const truth = scene.objects.find((o) => o.kind === k)!.colour;
    return { question: colourQuestion(k), chosen: colourAnswer(k, truth), rejected: colourAnswer(k, priorColour(truth)) };
  }
  if (type === 2) {
    // Drawn so that no object's answer can be told from the question alone (which would let
    // preference training learn a reversed prior instead of looking): half ask about an absent
    // object, drawn as a prior would hallucinate it (in proportion to its frequency), with
    // the yes-biased answer rejected; half about a present one, drawn uniformly, with its
    // omission rejected.
    if (rng.next() < 0.5) {
      const absent = ALL_OBJECTS.filter((o) => !has(scene, o));
      const o = absent[rng.weighted(absent.map(popularity))]!;
      return { question: existenceQuestion(o), chosen: existenceAnswer(o, false), rejected: existenceAnswer(o, true) };
    }
    const o = scene.objects[rng.int(scene.objects.length)]!;
    return { question: existenceQuestion(o), chosen: existenceAnswer(o, true), rejected: existenceAnswer(o, false) };
  }
  // caption with one object's colour replaced by the prior's favourite (keeping objects distinct)
  const i = rng.int(scene.objects.length);
  const objs = scene.objects.map(({ colour, kind }) => ({ colour, kind }));
  const fake = { ...objs[i]!, colour: priorColour(objs[i]!.colour) };
  const swapped = has(scene, fake)
    ? { ...objs[i]!, colour: COLOURS.find((c) => c !== objs[i]!.colour && !has(scene, { colour: c, kind: objs[i]!.kind }))! }
    : fake;
  const wrong = objs.map((o, j) => (j === i ? swapped : o));
  return { question: CAPTION_QUESTION, chosen: caption(objs), rejected: caption(wrong) };
}

/** Negatives for one eval image under a POPE split. */
export function popeNegatives(
  present: readonly ShapeObject[],
  split: PopeSplit,
  n: number,
  rng: Stream,
  frequency: Record<string, number>,
  cooccur: (a: ShapeObject, b: ShapeObject) => number,
): ShapeObject[] {
  const absent = ALL_OBJECTS.filter((o) => !present.some((p) => p.colour === o.colour && p.kind === o.kind));
  if (split === "random") return rng.shuffle(absent).slice(0, n);
  const freq = (o: ShapeObject) => frequency[objectName(o)] ?? 0;
  if (split === "popular") return absent.sort((a, b) => freq(b) - freq(a) || objectName(a).localeCompare(objectName(b))).slice(0, n);
  const shares = (o: ShapeObject) => (present.some((p) => p.colour === o.colour || p.kind === o.kind) ? 1 : 0);
  const co = (o: ShapeObject) => present.reduce((s, p) => s + cooccur(o, p), 0);
  return absent.sort((a, b) => shares(b) - shares(a) || co(b) - co(a) || objectName(a).localeCompare(objectName(b))).slice(0, n);
}

const words = (texts: Iterable<string>): string[] => {
  const set = new Set<string>();
  for (const t of texts) for (const w of t.match(/[A-Za-z]+|[^\sA-Za-z]/g) ?? []) set.add(w);
  return [...set].sort();
};

const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";

/** Generate the data set under `opts.out` (deterministic in the seed). */
export async function generateShapes(opts: ShapesOptions): Promise<ShapesManifest> {
  const size = opts.imageSize ?? 32;
  if (!Number.isInteger(size) || size < 8) throw new AnchorError(`generateShapes: imageSize must be an integer >= 8, got ${size}`);
  const counts = { sft: opts.sftImages ?? 192, pairs: opts.pairImages ?? 160, eval: opts.evalImages ?? 48 };
  for (const [k, v] of Object.entries(counts))
    if (!Number.isInteger(v) || v < 1) throw new AnchorError(`generateShapes: ${k} images must be a positive integer, got ${v}`);
  const out = opts.out;
  mkdirSync(join(out, "images"), { recursive: true });
  const rng = new Stream(opts.seed);
  const scenes = {
    sft: Array.from({ length: counts.sft }, () => sampleScene(rng, size)),
    pairs: Array.from({ length: counts.pairs }, () => sampleScene(rng, size)),
    eval: Array.from({ length: counts.eval }, () => sampleScene(rng, size)),
  };
  const imagePath = (set: string, i: number) => `images/${set}_${String(i).padStart(4, "0")}.png`;
  const writes: Promise<void>[] = [writePng(sceneSvg({ objects: [] }, size), join(out, "images/blank.png"))];
  for (const [set, list] of Object.entries(scenes))
    list.forEach((s, i) => writes.push(writePng(sceneSvg(s, size), join(out, imagePath(set, i)))));
  await Promise.all(writes);

  const training = [...scenes.sft, ...scenes.pairs];
  const frequency: Record<string, number> = Object.fromEntries(ALL_OBJECTS.map((o) => [objectName(o), 0]));
  const pairCount = new Map<string, number>();
  for (const s of training) {
    for (const o of s.objects) frequency[objectName(o)]!++;
    for (const a of s.objects)
      for (const b of s.objects)
        if (a !== b) pairCount.set(`${objectName(a)}|${objectName(b)}`, (pairCount.get(`${objectName(a)}|${objectName(b)}`) ?? 0) + 1);
  }
  const cooccur = (a: ShapeObject, b: ShapeObject) => pairCount.get(`${objectName(a)}|${objectName(b)}`) ?? 0;

  const sftRows = scenes.sft.flatMap((s, i) =>
    sftTurns(s, rng, (o) => frequency[objectName(o)]!).map((qa) => ({
      image: imagePath("sft", i),
      conversations: [
        { from: "human", value: `<image>\n${qa.question}` },
        { from: "gpt", value: qa.answer },
      ],
    })),
  );
  const pairRows = scenes.pairs.map((s, i) => ({
    image: imagePath("pairs", i),
    ...preferencePair(s, rng, (o) => frequency[objectName(o)]!),
  }));
  type PopeLine = { question_id: number; image: string; text: string; label: "yes" | "no" };
  const pope = Object.fromEntries(
    POPE_SPLITS.map((split): [PopeSplit, PopeLine[]] => {
      let id = 0;
      const rows = scenes.eval.flatMap((s, i) => {
        const present = s.objects.map(({ colour, kind }) => ({ colour, kind }));
        const negatives = popeNegatives(present, split, present.length, rng, frequency, cooccur);
        return [...present.map((o) => [o, "yes"] as const), ...negatives.map((o) => [o, "no"] as const)].map(([o, label]) => ({
          question_id: id++,
          image: imagePath("eval", i),
          text: existenceQuestion(o),
          label,
        }));
      });
      return [split, rows];
    }),
  ) as Record<PopeSplit, PopeLine[]>;

  writeFileSync(join(out, "sft.jsonl"), jsonl(sftRows));
  writeFileSync(join(out, "pairs.jsonl"), jsonl(pairRows));
  for (const split of POPE_SPLITS) writeFileSync(join(out, `pope_${split}.jsonl`), jsonl(pope[split]));
  const meta = (name: string, annotation: string) =>
    JSON.stringify({ [name]: { root: ".", annotation, repeat_time: 1, max_dynamic_patch: 1 } }, null, 2);
  writeFileSync(join(out, "meta_sft.json"), meta("shapes_sft", "sft.jsonl"));
  writeFileSync(join(out, "meta_pairs.json"), meta("shapes_pairs", "pairs.jsonl"));

  const allText = [
    ...sftRows.flatMap((r) => r.conversations.map((c) => c.value.replace("<image>\n", ""))),
    ...pairRows.flatMap((r) => [r.question, r.chosen, r.rejected]),
    ...POPE_SPLITS.flatMap((s) => pope[s].map((r) => r.text)),
    // every possible answer, so the vocabulary does not depend on the draw
    ...ALL_OBJECTS.flatMap((o) => [
      existenceQuestion(o),
      existenceAnswer(o, true),
      existenceAnswer(o, false),
      caption([o]),
      colourAnswer(o.kind, o.colour),
      colourQuestion(o.kind),
    ]),
    CAPTION_QUESTION,
    COLOURS_QUESTION,
    coloursAnswer(ALL_OBJECTS),
    coloursAnswer(ALL_OBJECTS.slice(0, 1)),
    "a, and",
  ];
  const manifest: ShapesManifest = {
    seed: opts.seed,
    imageSize: size,
    sftMeta: "meta_sft.json",
    pairsMeta: "meta_pairs.json",
    pope: Object.fromEntries(POPE_SPLITS.map((s) => [s, `pope_${s}.jsonl`])) as Record<PopeSplit, string>,
    blankImage: "images/blank.png",
    counts: {
      sft: sftRows.length,
      pairs: pairRows.length,
      pope: Object.fromEntries(POPE_SPLITS.map((s) => [s, pope[s].length])) as Record<PopeSplit, number>,
    },
    objectFrequency: frequency,
    words: words(allText),
  };
  writeFileSync(join(out, "manifest.json"), JSON.stringify(manifest, null, 2));
  return manifest;
}

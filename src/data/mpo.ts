/**
 * InternVL's MPO preference format.
 *
 * A meta JSON names one or more data sets:
 *   { "<name>": { "root": "images/", "annotation": "pairs.jsonl", "repeat_time": 1, "max_dynamic_patch": 6 } }
 * and each annotation file holds one JSON object per line:
 *   { "image": "a.png" | ["a.png", "b.png"], "question": "...", "chosen": "...", "rejected": "..." }
 * Image paths are relative to `root`. `repeat_time` > 1 repeats the rows
 * (an integer, as InternVL requires), < 1 keeps a seeded random subset of
 * floor(n·repeat_time) rows. A row without "image" is a text-only pair.
 *
 * SFT rows use InternVL's conversation format instead of chosen/rejected:
 *   { "image": "a.png", "conversations": [{ "from": "human", "value": "<image>\nQ" }, { "from": "gpt", "value": "A" }] }
 * and are read as { question: Q, chosen: A, rejected: null } (one turn).
 *
 * Relative `root` and `annotation` paths resolve against the meta file's
 * folder, so a data set folder can be moved as a whole.
 */
import { dirname, isAbsolute, resolve } from "node:path";
import { decodeUtf8, readRegularFileSync } from "../io/files.js";
import { parseJson } from "../io/json.js";
import { uniforms } from "../tensor/random.js";
import { DataError } from "./errors.js";
import { ImageChecker } from "./images.js";
import { readJsonl, type JsonlOptions } from "./jsonl.js";

/** One example as training consumes it. */
export interface PreferenceRow {
  /** Absolute image paths, in order; empty for text-only rows. */
  images: string[];
  /** The user's question with any "<image>" placeholder removed. */
  question: string;
  chosen: string;
  /** null for SFT rows. */
  rejected: string | null;
  /** Where the row came from, for error messages. */
  source: { file: string; line: number };
  /**
   * The row's other fields whose values are numbers (`"weight": 0.5`), by
   * name: per-pair data that ag.train hands to the objective as
   * batch.columns. Other extra fields (an "id" string) are ignored.
   */
  columns?: Record<string, number>;
}

/** The fields a row's format defines; every other numeric field is a column. */
const ROW_FIELDS = new Set(["image", "question", "chosen", "rejected", "conversations"]);

/** The numeric fields of `o` beyond the format's own. */
function numericColumns(o: Record<string, unknown>): Record<string, number> | undefined {
  const entries = Object.entries(o).filter(([k, v]) => !ROW_FIELDS.has(k) && typeof v === "number");
  return entries.length ? (Object.fromEntries(entries) as Record<string, number>) : undefined;
}

export interface ReadOptions extends JsonlOptions {
  /** Check that every image a row names is there and is an image (default true); a row that fails is a bad row. */
  checkImages?: boolean;
  /** Folder image paths are relative to (default: the annotation's folder). */
  root?: string;
  /** "preference" (default) requires chosen and rejected; "sft" also accepts conversations. */
  kind?: "preference" | "sft";
}

export interface ReadResult {
  rows: PreferenceRow[];
  /** Bad rows (malformed, too long, or naming a missing or non-image file) skipped under skipBad, each as "file:line: why". */
  skipped: string[];
}

const IMAGE_TAG = /<image>\n?/g;

function str(v: unknown, field: string, file: string, line: number): string {
  if (typeof v !== "string")
    throw new DataError(
      file,
      line,
      `field "${field}" must be a string, got ${v === undefined ? "nothing" : JSON.stringify(v)?.slice(0, 60)}`,
    );
  return v;
}

function parseRow(obj: unknown, file: string, line: number, root: string, kind: "preference" | "sft"): PreferenceRow {
  const row = parseFormatFields(obj, file, line, root, kind);
  const columns = numericColumns(obj as Record<string, unknown>);
  return columns ? { ...row, columns } : row;
}

/** The row's own fields (images, question, replies), in either of the two formats. */
function parseFormatFields(obj: unknown, file: string, line: number, root: string, kind: "preference" | "sft"): PreferenceRow {
  if (!obj || typeof obj !== "object" || Array.isArray(obj)) throw new DataError(file, line, "a row must be a JSON object");
  const o = obj as Record<string, unknown>;
  const img = o.image;
  let images: string[];
  if (img === undefined || img === null) images = [];
  else if (typeof img === "string") images = [img];
  else if (Array.isArray(img) && img.every((p) => typeof p === "string")) images = img as string[];
  else throw new DataError(file, line, `field "image" must be a path or a list of paths, got ${JSON.stringify(img)?.slice(0, 60)}`);
  images = images.map((p) => (isAbsolute(p) ? p : resolve(root, p)));
  const source = { file, line };
  if (kind === "sft" && o.conversations !== undefined) {
    const conv = o.conversations;
    if (!Array.isArray(conv) || conv.length !== 2)
      throw new DataError(
        file,
        line,
        `field "conversations" must hold exactly one human and one gpt turn (multi-turn rows are not supported), got ${Array.isArray(conv) ? conv.length + " turns" : typeof conv}`,
      );
    const [h, g] = conv as Record<string, unknown>[];
    if (h?.from !== "human" || g?.from !== "gpt")
      throw new DataError(
        file,
        line,
        `conversations must be [{from: "human"}, {from: "gpt"}], got from=${JSON.stringify(h?.from)}, ${JSON.stringify(g?.from)}`,
      );
    return {
      images,
      question: str(h.value, "conversations[0].value", file, line).replace(IMAGE_TAG, "").trim(),
      chosen: str(g.value, "conversations[1].value", file, line),
      rejected: null,
      source,
    };
  }
  const question = str(o.question, "question", file, line).replace(IMAGE_TAG, "").trim();
  const chosen = str(o.chosen, "chosen", file, line);
  if (kind === "sft" && o.rejected === undefined) return { images, question, chosen, rejected: null, source };
  const rejected = str(o.rejected, "rejected", file, line);
  if (chosen.length === 0 || rejected.length === 0) throw new DataError(file, line, `"chosen" and "rejected" must be non-empty`);
  return { images, question, chosen, rejected, source };
}

/**
 * Read one annotation JSONL file. Blank lines are ignored; line numbers are
 * 1-based. A row whose image is missing or is not an image is a bad row
 * (see images.ts), unless `checkImages` is false.
 */
export function readMpoJsonl(file: string, opts: ReadOptions = {}): ReadResult {
  const root = opts.root ?? dirname(file);
  const images = opts.checkImages === false ? null : new ImageChecker();
  return readJsonl(file, opts, (value, line) => {
    const row = parseRow(value, file, line, root, opts.kind ?? "preference");
    images?.check(row.images, file, line);
    return row;
  });
}

export interface MetaEntry {
  name: string;
  root: string;
  annotation: string;
  repeatTime: number;
  maxDynamicPatch?: number;
}

export interface MetaResult extends ReadResult {
  datasets: (MetaEntry & { count: number })[];
}

/** A meta JSON names a few data sets; megabytes of it are the wrong file. */
const MAX_META_BYTES = 16 << 20;

/** Parse the meta JSON (without reading the annotations). */
export function readMeta(metaFile: string): MetaEntry[] {
  const fail = (why: string) => new DataError(metaFile, null, why);
  const meta = parseJson(decodeUtf8(readRegularFileSync(metaFile, { maxBytes: MAX_META_BYTES }, fail), fail), fail);
  if (!meta || typeof meta !== "object" || Array.isArray(meta))
    throw new DataError(metaFile, null, "the meta file must be a JSON object { name: { root, annotation, repeat_time } }");
  const base = dirname(metaFile);
  return Object.entries(meta as Record<string, Record<string, unknown>>).map(([name, e]) => {
    const where = (field: string) => `data set "${name}": field "${field}"`;
    if (!e || typeof e !== "object") throw new DataError(metaFile, null, `data set "${name}" must be an object`);
    if (typeof e.annotation !== "string") throw new DataError(metaFile, null, `${where("annotation")} must be a path`);
    if (e.root !== undefined && typeof e.root !== "string") throw new DataError(metaFile, null, `${where("root")} must be a path`);
    const repeatTime = e.repeat_time ?? 1;
    if (typeof repeatTime !== "number" || !(repeatTime > 0) || (repeatTime > 1 && !Number.isInteger(repeatTime))) {
      throw new DataError(
        metaFile,
        null,
        `${where("repeat_time")} must be a number in (0, 1] or an integer >= 1, got ${JSON.stringify(repeatTime)}`,
      );
    }
    const annotation = resolve(base, e.annotation);
    const entry: MetaEntry = { name, annotation, root: resolve(base, (e.root as string | undefined) ?? dirname(e.annotation)), repeatTime };
    if (typeof e.max_dynamic_patch === "number") entry.maxDynamicPatch = e.max_dynamic_patch;
    return entry;
  });
}

/**
 * Read every data set a meta JSON names, applying repeat_time. The seed
 * picks the subset when repeat_time < 1 (InternVL draws it at random).
 */
export function readMpoMeta(metaFile: string, opts: Omit<ReadOptions, "root"> & { seed?: number } = {}): MetaResult {
  const rows: PreferenceRow[] = [],
    skipped: string[] = [];
  const datasets = readMeta(metaFile).map((entry, k) => {
    const r = readMpoJsonl(entry.annotation, { ...opts, root: entry.root });
    skipped.push(...r.skipped);
    const picked = repeatRows(r.rows, entry.repeatTime, (opts.seed ?? 0) + k);
    rows.push(...picked);
    return { ...entry, count: picked.length };
  });
  return { rows, skipped, datasets };
}

function repeatRows<T>(rows: T[], repeatTime: number, seed: number): T[] {
  if (repeatTime >= 1) return Array.from({ length: repeatTime }, () => rows).flat();
  const keys = uniforms(seed, rows.length);
  const order = rows.map((_, i) => i).sort((a, b) => keys[a]! - keys[b]!);
  return order
    .slice(0, Math.floor(rows.length * repeatTime))
    .sort((a, b) => a - b)
    .map((i) => rows[i]!);
}

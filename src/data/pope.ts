/**
 * POPE evaluation files: JSONL rows { question_id, image, text, label } with
 * label "yes" or "no", as the POPE benchmark ships them. Image paths are
 * relative to `root` (default: the file's folder).
 */
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { DataError } from "./errors.js";

export interface PopeRow {
  id: number | string;
  image: string;
  question: string;
  label: "yes" | "no";
}

export function readPope(file: string, root = dirname(file)): PopeRow[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new DataError(file, null, `cannot read POPE file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const rows: PopeRow[] = [];
  text.split("\n").forEach((raw, i) => {
    if (raw.trim() === "") return;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(raw);
    } catch (e) {
      throw new DataError(file, i + 1, `invalid JSON (${(e as Error).message})`);
    }
    const label = typeof o.label === "string" ? o.label.toLowerCase() : o.label;
    if (label !== "yes" && label !== "no")
      throw new DataError(file, i + 1, `field "label" must be "yes" or "no", got ${JSON.stringify(o.label)}`);
    if (typeof o.image !== "string") throw new DataError(file, i + 1, `field "image" must be a path`);
    if (typeof o.text !== "string") throw new DataError(file, i + 1, `field "text" must be the question`);
    rows.push({
      id: (o.question_id as number | string | undefined) ?? i,
      image: isAbsolute(o.image) ? o.image : resolve(root, o.image),
      question: o.text,
      label,
    });
  });
  return rows;
}

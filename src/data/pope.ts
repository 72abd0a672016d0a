/**
 * POPE evaluation files: JSONL rows { question_id, image, text, label } with
 * label "yes" or "no", as the POPE benchmark ships them. Image paths are
 * relative to `root` (default: the file's folder).
 */
import { dirname, isAbsolute, resolve } from "node:path";
import { DataError } from "./errors.js";
import { readJsonl } from "./jsonl.js";

export interface PopeRow {
  id: number | string;
  image: string;
  question: string;
  label: "yes" | "no";
}

export function readPope(file: string, root = dirname(file)): PopeRow[] {
  return readJsonl(file, {}, (value, line): PopeRow => {
    const fail = (why: string) => new DataError(file, line, why);
    if (!value || typeof value !== "object" || Array.isArray(value)) throw fail("a row must be a JSON object");
    const o = value as Record<string, unknown>;
    const label = typeof o.label === "string" ? o.label.toLowerCase() : o.label;
    if (label !== "yes" && label !== "no") throw fail(`field "label" must be "yes" or "no", got ${JSON.stringify(o.label)}`);
    if (typeof o.image !== "string") throw fail(`field "image" must be a path`);
    if (typeof o.text !== "string") throw fail(`field "text" must be the question`);
    return {
      id: (o.question_id as number | string | undefined) ?? line - 1,
      image: isAbsolute(o.image) ? o.image : resolve(root, o.image),
      question: o.text,
      label,
    };
  }).rows;
}

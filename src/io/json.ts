/**
 * JSON from untrusted files, with a nesting limit checked before parsing.
 *
 * V8's JSON.parse copes with any depth, but everything that walks the value
 * afterwards recursively (JSON.stringify in an error message, a validator,
 * structuredClone) overflows the stack on a value nested a few thousand
 * levels deep, and a RangeError is no message for a user. No file this
 * project reads needs more than a handful of levels (a safetensors header
 * needs 3, a tokenizer.json about 8), so the text is scanned once, without
 * recursion, and refused at the first bracket past the limit.
 */
import type { Fail } from "./files.js";

/** Deeper than any config, header, tokenizer or data row we read; shallow enough for any recursive walk. */
export const MAX_JSON_DEPTH = 64;

const QUOTE = 0x22,
  BACKSLASH = 0x5c,
  OPEN_BRACKET = 0x5b,
  CLOSE_BRACKET = 0x5d,
  OPEN_BRACE = 0x7b,
  CLOSE_BRACE = 0x7d;

/** The offset of the first bracket that nests deeper than `maxDepth`, or -1 (strings are skipped). */
export function depthViolation(text: string, maxDepth: number): number {
  let depth = 0,
    inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      if (++depth > maxDepth) return i;
    } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) {
      depth--;
    }
  }
  return -1;
}

/**
 * Parse `text`, refusing nesting deeper than `maxDepth` and invalid JSON through `fail`,
 * whose reason reads after a subject ("header ", "config.json: "): "not valid JSON (...)".
 */
export function parseJson(text: string, fail: Fail, maxDepth = MAX_JSON_DEPTH): unknown {
  const at = depthViolation(text, maxDepth);
  if (at >= 0) throw fail(`nested deeper than ${maxDepth} levels (at character ${at})`);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw fail(`not valid JSON (${(e as Error).message})`);
  }
}

/**
 * JSONL files: one JSON value per line, blank lines ignored.
 *
 * Lines are read in fixed-size chunks with each line's size
 * bounded, so memory stays near `maxLineBytes` whatever the file holds: a
 * 10 MB line (a missing line break, a base64 image pasted into a row) is
 * reported as a problem on its own line number and skipped over without
 * being held, and a file of any length streams.
 *
 * Each line is decoded as UTF-8 on its own, so bytes that are not UTF-8 are
 * a problem of that line rather than replacement characters in the data. A
 * byte-order mark at the start of the file is dropped (Windows editors
 * write one); "\r\n" endings are left to JSON.parse, which skips the "\r".
 */
import { closeSync, readSync } from "node:fs";
import { openRegularSync, type Fail } from "../io/files.js";
import { parseJson } from "../io/json.js";
import { DataError } from "./errors.js";

/** A line's text, or why it has none (too long, not UTF-8); `line` is 1-based. */
export type RawLine = { line: number; text: string; problem?: undefined } | { line: number; text?: undefined; problem: string };

const CHUNK_BYTES = 1 << 20;
const NEWLINE = 0x0a;
const BOM = [0xef, 0xbb, 0xbf];

/** The lines of regular file `file`; a non-regular or unreadable file goes through `fail`. */
export function* readLines(file: string, maxLineBytes: number, fail: Fail): Generator<RawLine> {
  const fd = openRegularSync(file, fail);
  try {
    const chunk = Buffer.alloc(CHUNK_BYTES);
    const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
    let pieces: Buffer[] = [],
      held = 0,
      line = 1,
      position = 0;
    const emit = (): RawLine => {
      const n = held;
      const bytes = Buffer.concat(pieces);
      pieces = [];
      held = 0;
      if (n > maxLineBytes)
        return { line, problem: `the row is ${n} bytes, over the ${maxLineBytes}-byte row limit (a missing line break?)` };
      const start = line === 1 && BOM.every((b, i) => bytes[i] === b) ? 3 : 0;
      try {
        return { line, text: decoder.decode(bytes.subarray(start)) };
      } catch {
        return { line, problem: "the row is not valid UTF-8 text" };
      }
    };
    for (;;) {
      const got = readSync(fd, chunk, 0, CHUNK_BYTES, position);
      if (got === 0) break;
      position += got;
      const view = chunk.subarray(0, got);
      let start = 0;
      while (start < got) {
        const nl = view.indexOf(NEWLINE, start);
        const end = nl === -1 ? got : nl;
        held += end - start;
        // past the limit the bytes are counted, not kept
        if (held <= maxLineBytes) pieces.push(Buffer.from(view.subarray(start, end)));
        else pieces = [];
        if (nl === -1) break;
        yield emit();
        line++;
        start = nl + 1;
      }
    }
    if (held > 0) yield emit();
  } catch (e) {
    if (e instanceof Error && "code" in e) throw fail(`cannot read (${(e as NodeJS.ErrnoException).code})`);
    throw e;
  } finally {
    closeSync(fd);
  }
}

/** Rows longer than this are refused: real rows are a few kB of text and image paths. */
export const MAX_ROW_BYTES = 1 << 20;

export interface JsonlOptions {
  /** Skip bad rows (each kept in `skipped` as "file:line: why") instead of throwing. */
  skipBad?: boolean;
  /** The longest row accepted, in bytes (default MAX_ROW_BYTES). */
  maxRowBytes?: number;
}

/**
 * Parse every non-blank line of `file` with `parse` (given the JSON value and
 * the line number). A DataError from a row, or a row that is too long, not
 * UTF-8 or not JSON, is thrown, or collected under `skipBad`; other errors
 * always propagate. A file without a single row is an error naming it.
 */
export function readJsonl<T>(
  file: string,
  opts: JsonlOptions,
  parse: (value: unknown, line: number) => T,
): { rows: T[]; skipped: string[] } {
  const rows: T[] = [],
    skipped: string[] = [];
  let nonBlank = 0;
  for (const raw of readLines(file, opts.maxRowBytes ?? MAX_ROW_BYTES, (why) => new DataError(file, null, why))) {
    if (raw.text !== undefined && raw.text.trim() === "") continue;
    nonBlank++;
    try {
      if (raw.problem !== undefined) throw new DataError(file, raw.line, raw.problem);
      rows.push(
        parse(
          parseJson(raw.text, (why) => new DataError(file, raw.line, `the row is ${why}`)),
          raw.line,
        ),
      );
    } catch (e) {
      if (!(e instanceof DataError) || !opts.skipBad) throw e;
      skipped.push(e.message);
    }
  }
  if (nonBlank === 0) throw new DataError(file, null, "the file is empty: it has no JSON rows");
  return { rows, skipped };
}

/**
 * A cheap check, at read time, that the images a data row names can be
 * decoded: each must be a regular file that starts with the signature of a
 * format sharp decodes. That finds the usual mistakes (a wrong root, a
 * missing file, an HTML error page saved as .jpg, an empty file, a
 * directory) while the rows are read, where the row is still known by
 * file:line and `skipBad` can drop it, instead of at some training step.
 * It reads 16 bytes per distinct image, not the pixels: a file whose header
 * is right but whose pixel data is corrupt is only found when decoded.
 */
import { closeSync, readSync } from "node:fs";
import { openRegularSync } from "../io/files.js";
import { DataError } from "./errors.js";

const HEAD_BYTES = 16;

const ascii = (b: Uint8Array, at: number, s: string) => [...s].every((ch, i) => b[at + i] === ch.charCodeAt(0));

/** Formats sharp's prebuilt binaries decode, by their leading bytes. */
const SIGNATURES: readonly [string, (b: Uint8Array) => boolean][] = [
  ["PNG", (b) => ascii(b, 0, "\x89PNG\r\n\x1a\n")],
  ["JPEG", (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff],
  ["GIF", (b) => ascii(b, 0, "GIF87a") || ascii(b, 0, "GIF89a")],
  ["WebP", (b) => ascii(b, 0, "RIFF") && ascii(b, 8, "WEBP")],
  ["TIFF", (b) => ascii(b, 0, "II*\0") || ascii(b, 0, "MM\0*")],
  ["AVIF/HEIF", (b) => ascii(b, 4, "ftyp")],
  ["SVG", (b) => /^(\ufeff|\s)*<(svg|\?xml)/.test(new TextDecoder().decode(b))],
];

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join(" ");

/** Why `path` cannot be an image we decode, or null when it looks like one. */
export function imageProblem(path: string): string | null {
  let fd: number,
    refused = "";
  try {
    fd = openRegularSync(path, (why) => new DataError(path, null, (refused = why)));
  } catch {
    return refused;
  }
  try {
    const head = new Uint8Array(HEAD_BYTES);
    const n = readSync(fd, head, 0, HEAD_BYTES, 0);
    if (n === 0) return "is empty (0 bytes)";
    if (SIGNATURES.some(([, test]) => test(head))) return null;
    return `is not an image (it starts with ${hex(head.subarray(0, Math.min(n, 8)))}; expected ${SIGNATURES.map(([f]) => f).join(", ")})`;
  } catch (e) {
    return `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  } finally {
    closeSync(fd);
  }
}

/** Checks rows' images, each distinct path once. */
export class ImageChecker {
  private readonly seen = new Map<string, string | null>();

  /** Throws a DataError at file:line naming the first bad image of the row. */
  check(images: readonly string[], file: string, line: number): void {
    for (const path of images) {
      let why = this.seen.get(path);
      if (why === undefined) this.seen.set(path, (why = imageProblem(path)));
      if (why !== null) throw new DataError(file, line, `image "${path}": ${why}`);
    }
  }
}

/**
 * InternVL image preprocessing: decode (PNG, JPEG, anything sharp reads),
 * dynamic tiling, bicubic resizes (Pillow's, bit for bit: see io/bicubic.ts),
 * ImageNet normalisation (in float32 steps, as torchvision's ToTensor and
 * Normalize compute it).
 *
 * Dynamic tiling: among the grids (cols, rows) with minTiles ≤ cols·rows ≤
 * maxTiles, ordered by tile count, take the one whose aspect ratio cols/rows
 * is closest to the image's width/height. On an exact tie a later (larger)
 * grid replaces the current best only if the image's area exceeds half the
 * grid's pixel area, 0.5·S²·cols·rows. The image is resized to
 * (S·cols, S·rows), cut into S×S tiles row by row, and, when there is more
 * than one tile, a thumbnail (the whole image resized to S×S) is appended.
 * Grids of equal tile count are tried by ascending cols. With minTiles = 1
 * that order never decides: an exact tie between two grids of equal count
 * is never the closest, as a grid of fewer tiles lies nearer (a test checks
 * this for every pair). With minTiles > 1 it can decide, and InternVL's
 * order there is Python's set iteration order, which this does not mimic.
 *
 * Colour: alpha is dropped without compositing and greyscale is expanded,
 * as PIL's convert("RGB") does; EXIF orientation is ignored, as PIL does.
 */
import { writeFile } from "node:fs/promises";
import { extname } from "node:path";
import sharp from "sharp";
import { resampleBicubic } from "../../io/bicubic.js";
import { readRegularFile } from "../../io/files.js";
import { fromStorage } from "../../ops/create.js";
import { AnchorError } from "../../tensor/errors.js";
import type { Tensor } from "../../tensor/tensor.js";

/** An image that cannot be read or decoded, or tiling options that make no sense. */
export class ImageError extends AnchorError {
  override name = "ImageError";
}

export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/** 8-bit RGB pixels, interleaved, row-major: data[(y·width + x)·3 + channel]. */
export interface RGBImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export interface Grid {
  cols: number;
  rows: number;
}

export interface TilingOptions {
  /** Tile side S in pixels: the vision config's image_size (448 for the released models). */
  imageSize: number;
  minTiles?: number;
  /** The checkpoint's max_dynamic_patch (12 by default). */
  maxTiles?: number;
  useThumbnail?: boolean;
  /** false: one S×S resize of the whole image, no tiling (dynamic_image_size = false). */
  dynamic?: boolean;
}

/** Every grid with minTiles ≤ cols·rows ≤ maxTiles, by tile count, then by cols. */
export function candidateGrids(minTiles = 1, maxTiles = 12): Grid[] {
  if (!Number.isInteger(minTiles) || !Number.isInteger(maxTiles) || minTiles < 1 || maxTiles < minTiles) {
    throw new ImageError(`tiling needs integers 1 ≤ minTiles ≤ maxTiles, got minTiles=${minTiles}, maxTiles=${maxTiles}`);
  }
  const grids: Grid[] = [];
  for (let n = minTiles; n <= maxTiles; n++) {
    for (let cols = 1; cols <= n; cols++) if (n % cols === 0) grids.push({ cols, rows: n / cols });
  }
  return grids;
}

/** The grid dynamic tiling picks for a width × height image (see the module comment). */
export function selectGrid(width: number, height: number, opts: TilingOptions): Grid {
  checkSize(width, height, "selectGrid");
  const aspect = width / height;
  const area = width * height;
  const half = 0.5 * opts.imageSize * opts.imageSize;
  let best: Grid = { cols: 1, rows: 1 };
  let bestDiff = Infinity;
  for (const g of candidateGrids(opts.minTiles ?? 1, opts.maxTiles ?? 12)) {
    const diff = Math.abs(aspect - g.cols / g.rows);
    if (diff < bestDiff) {
      bestDiff = diff;
      best = g;
    } else if (diff === bestDiff && area > half * g.cols * g.rows) {
      best = g;
    }
  }
  return best;
}

/** The tiles of one image: grid tiles row-major, then the thumbnail if any. */
export function tileImage(img: RGBImage, opts: TilingOptions): { tiles: RGBImage[]; grid: Grid } {
  const S = checkTileSize(opts.imageSize);
  if (opts.dynamic === false) return { tiles: [resizeImage(img, S, S)], grid: { cols: 1, rows: 1 } };
  const grid = selectGrid(img.width, img.height, opts);
  const resized = resizeImage(img, S * grid.cols, S * grid.rows);
  const tiles: RGBImage[] = [];
  for (let r = 0; r < grid.rows; r++) for (let c = 0; c < grid.cols; c++) tiles.push(cropImage(resized, c * S, r * S, S, S));
  if (tiles.length > 1 && (opts.useThumbnail ?? true)) tiles.push(resizeImage(img, S, S));
  return { tiles, grid };
}

/** Normalised pixels of S×S tiles, channel-first: [N, 3, S, S] flattened, ImageNet mean/std. */
export function normalizeTiles(tiles: readonly RGBImage[], size: number): Float32Array {
  const plane = size * size;
  const out = new Float32Array(tiles.length * 3 * plane);
  // ToTensor then Normalize, each step rounded to float32 as torch does; 256 values per channel.
  const f = Math.fround;
  const lut = IMAGENET_MEAN.map((mean, ch) =>
    Float32Array.from({ length: 256 }, (_, v) => f(f(f(v / 255) - f(mean)) / f(IMAGENET_STD[ch]!))),
  );
  tiles.forEach((t, i) => {
    if (t.width !== size || t.height !== size)
      throw new ImageError(`normalizeTiles: tile ${i} is ${t.width}×${t.height}, expected ${size}×${size}`);
    const base = i * 3 * plane;
    for (let p = 0; p < plane; p++) {
      out[base + p] = lut[0]![t.data[p * 3]!]!;
      out[base + plane + p] = lut[1]![t.data[p * 3 + 1]!]!;
      out[base + 2 * plane + p] = lut[2]![t.data[p * 3 + 2]!]!;
    }
  });
  return out;
}

export interface PreprocessedImages {
  /** float32 [total tiles, 3, S, S], the images' tiles one after another. */
  pixelValues: Tensor;
  /** Tiles per image (thumbnail included): what buildPrompt's numTiles wants. */
  numTiles: number[];
  grids: Grid[];
}

/** Decode (when given paths or bytes), tile and normalise a list of images. */
export async function preprocessImages(
  sources: readonly (string | Uint8Array | RGBImage)[],
  opts: TilingOptions,
): Promise<PreprocessedImages> {
  const S = checkTileSize(opts.imageSize);
  const all: RGBImage[] = [];
  const numTiles: number[] = [];
  const grids: Grid[] = [];
  for (const src of sources) {
    const img = typeof src === "string" || src instanceof Uint8Array ? await decodeImage(src) : src;
    const { tiles, grid } = tileImage(img, opts);
    all.push(...tiles);
    numTiles.push(tiles.length);
    grids.push(grid);
  }
  return { pixelValues: fromStorage(normalizeTiles(all, S), [all.length, 3, S, S], "float32"), numTiles, grids };
}

/** Far above any photo; sharp's own pixel limit (268 Mpixel) bounds the decoded size. */
const MAX_IMAGE_BYTES = 1 << 30;

/** Decode a file (or its bytes) to RGB; `name` labels bytes in errors. FIFOs and devices are refused unopened. */
export async function decodeImage(
  source: string | Uint8Array,
  name = typeof source === "string" ? source : "<image bytes>",
): Promise<RGBImage> {
  let bytes: Uint8Array;
  if (typeof source === "string") {
    bytes = await readRegularFile(source, { maxBytes: MAX_IMAGE_BYTES }, (why) => new ImageError(`${name}: ${why}`));
  } else {
    bytes = source;
  }
  try {
    const { data, info } = await sharp(bytes)
      .removeAlpha()
      .toColourspace("srgb")
      .raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch (e) {
    throw new ImageError(`${name}: not a decodable image (${(e as Error).message})`);
  }
}

/** Bicubic resize to exactly width × height (aspect not kept), as Pillow's resize(BICUBIC) computes it. */
export function resizeImage(img: RGBImage, width: number, height: number): RGBImage {
  checkSize(width, height, "resizeImage");
  return { width, height, data: resampleBicubic(img.data, img.width, img.height, 3, width, height) };
}

/** The w × h region with top-left corner (x, y). */
export function cropImage(img: RGBImage, x: number, y: number, w: number, h: number): RGBImage {
  if (x < 0 || y < 0 || x + w > img.width || y + h > img.height) {
    throw new ImageError(`cropImage: region ${w}×${h} at (${x}, ${y}) is outside the ${img.width}×${img.height} image`);
  }
  const data = new Uint8Array(w * h * 3);
  for (let r = 0; r < h; r++) data.set(img.data.subarray(((y + r) * img.width + x) * 3, ((y + r) * img.width + x + w) * 3), r * w * 3);
  return { width: w, height: h, data };
}

/** A width × height image of one colour. */
export function solidImage(width: number, height: number, rgb: readonly [number, number, number]): RGBImage {
  checkSize(width, height, "solidImage");
  const data = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) data.set(rgb, p * 3);
  return { width, height, data };
}

/** A black size × size image: a stand-in for "no image" in evaluations. */
export function blankImage(size: number): RGBImage {
  return solidImage(size, size, [0, 0, 0]);
}

/** Write an image as PNG, or JPEG for .jpg/.jpeg paths. */
export async function saveImage(img: RGBImage, path: string): Promise<void> {
  const s = sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });
  const ext = extname(path).toLowerCase();
  await writeFile(path, await (ext === ".jpg" || ext === ".jpeg" ? s.jpeg({ quality: 95 }) : s.png()).toBuffer());
}

function checkSize(width: number, height: number, op: string): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ImageError(`${op}: width and height must be positive integers, got ${width}×${height}`);
  }
}

function checkTileSize(size: number): number {
  if (!Number.isInteger(size) || size < 1) throw new ImageError(`imageSize must be a positive integer, got ${size}`);
  return size;
}

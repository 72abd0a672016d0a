/** Dynamic tiling (a hand-derived table, ties included), tile layout, normalisation, decoding errors. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import {
  blankImage,
  candidateGrids,
  decodeImage,
  ImageError,
  normalizeTiles,
  preprocessImages,
  saveImage,
  selectGrid,
  solidImage,
  tileImage,
  type RGBImage,
} from "../../src/models/internvl/io.js";
import { tempDir } from "../io/helpers.js";

const dir = tempDir("img");
const S = 448;

describe("grid selection", () => {
  it("lists every grid of 1..12 tiles, by tile count then cols", () => {
    const grids = candidateGrids(1, 12);
    expect(grids.length).toBe(35); // sum of the divisor counts of 1..12
    expect(grids.slice(0, 6)).toEqual([
      { cols: 1, rows: 1 },
      { cols: 1, rows: 2 },
      { cols: 2, rows: 1 },
      { cols: 1, rows: 3 },
      { cols: 3, rows: 1 },
      { cols: 1, rows: 4 },
    ]);
    expect(candidateGrids(4, 4)).toEqual([
      { cols: 1, rows: 4 },
      { cols: 2, rows: 2 },
      { cols: 4, rows: 1 },
    ]);
    expect(() => candidateGrids(3, 2)).toThrow(ImageError);
  });

  // Each expectation is derived by hand from the rule (S = 448, S² = 200704):
  // closest aspect wins; on an exact tie a later, larger grid wins only if area > 0.5·S²·cols·rows.
  const table: [string, number, number, number, [number, number]][] = [
    ["square at tile size: (2,2) ties but 1·S² ≤ 2·S²", 448, 448, 12, [1, 1]],
    ["square 800²: 640000 > 2·S² takes (2,2), ≤ 4.5·S² keeps it", 800, 800, 12, [2, 2]],
    ["square 1000²: 1e6 > 4.5·S² = 903168 takes (3,3)", 1000, 1000, 12, [3, 3]],
    ["square 1000² with at most 6 tiles: (3,3) is not a candidate", 1000, 1000, 6, [2, 2]],
    ["2:1 at 896×448: (4,2) ties but 2·S² ≤ 4·S²", 896, 448, 12, [2, 1]],
    ["2:1 at 1792×896: 8·S² > 4·S² takes (4,2)", 1792, 896, 12, [4, 2]],
    ["1:10 exactly: (1,10)", 100, 1000, 12, [1, 10]],
    ["4:3 photo: only (4,3) matches exactly, 12 tiles", 640, 480, 12, [4, 3]],
    ["small 3:2 image is upsampled to (3,2)", 300, 200, 12, [3, 2]],
    ["10:3 lies nearest 3 = 3/1 = 6/2; 300000 ≤ 6·S² keeps (3,1)", 1000, 300, 12, [3, 1]],
    ["3:1 at 2400×800: 1.92e6 > 6·S² = 1204224 takes (6,2)", 2400, 800, 12, [6, 2]],
    ["6.5 is halfway between 6/1 and 7/1: small image keeps (6,1)", 1300, 200, 12, [6, 1]],
    ["6.5 halfway, large image: 6.5e6 > 3.5·S² takes (7,1)", 6500, 1000, 12, [7, 1]],
    ["2.25 ties 2/1, 4/2 and 5/2: small image keeps (2,1)", 900, 400, 12, [2, 1]],
    ["2.25 ties, 2.25e6 > 4·S² then > 5·S² = 1003520: (5,2)", 2250, 1000, 12, [5, 2]],
    ["at most one tile: always (1,1)", 4000, 300, 1, [1, 1]],
  ];
  for (const [why, w, h, maxTiles, [cols, rows]] of table) {
    it(`${w}×${h}, max ${maxTiles}: ${why}`, () => {
      expect(selectGrid(w, h, { imageSize: S, maxTiles })).toEqual({ cols, rows });
    });
  }

  it("an exact tie between two grids of equal count is never the closest when minTiles = 1", () => {
    const grids = candidateGrids(1, 12);
    for (const a of grids)
      for (const b of grids) {
        if (a.cols * a.rows !== b.cols * b.rows || a.cols >= b.cols) continue;
        const mid = (a.cols / a.rows + b.cols / b.rows) / 2;
        const tie = Math.abs(mid - a.cols / a.rows);
        expect(
          grids.some((g) => Math.abs(mid - g.cols / g.rows) < tie),
          `${a.cols}x${a.rows} vs ${b.cols}x${b.rows}`,
        ).toBe(true);
      }
  });

  it("always picks a grid of closest aspect ratio within the tile bounds (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 0, max: 12 }),
        (w, h, lo, span) => {
          const maxTiles = Math.min(12, lo + span);
          const g = selectGrid(w, h, { imageSize: S, minTiles: lo, maxTiles });
          const best = Math.min(...candidateGrids(lo, maxTiles).map((c) => Math.abs(w / h - c.cols / c.rows)));
          expect(Math.abs(w / h - g.cols / g.rows)).toBe(best);
          expect(g.cols * g.rows).toBeGreaterThanOrEqual(lo);
          expect(g.cols * g.rows).toBeLessThanOrEqual(maxTiles);
        },
      ),
      { numRuns: 300 },
    );
  });
});

const RED = [255, 0, 0] as const,
  GREEN = [0, 255, 0] as const,
  BLUE = [0, 0, 255] as const,
  WHITE = [255, 255, 255] as const;

/** Four solid quadrants: top-left red, top-right green, bottom-left blue, bottom-right white. */
function quadrants(size: number): RGBImage {
  const img = solidImage(size, size, WHITE);
  const h = size / 2;
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const c = y < h ? (x < h ? RED : GREEN) : x < h ? BLUE : WHITE;
      img.data.set(c, (y * size + x) * 3);
    }
  return img;
}

const pixel = (img: RGBImage, x: number, y: number) => Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));
const isSolid = (img: RGBImage, rgb: readonly number[]) => img.data.every((v, i) => v === rgb[i % 3]);

describe("tiles", () => {
  it("cuts row by row and appends a thumbnail", async () => {
    const size = 64;
    const { tiles, grid } = tileImage(quadrants(2 * size), { imageSize: size }); // area 4·S² > 2·S²: (2,2)
    expect(grid).toEqual({ cols: 2, rows: 2 });
    expect(tiles.length).toBe(5);
    expect([RED, GREEN, BLUE, WHITE].map((c, i) => isSolid(tiles[i]!, c))).toEqual([true, true, true, true]);
    const thumb = tiles[4]!;
    expect([thumb.width, thumb.height]).toEqual([size, size]);
    expect([pixel(thumb, 2, 2), pixel(thumb, size - 3, 2), pixel(thumb, 2, size - 3), pixel(thumb, size - 3, size - 3)]).toEqual([
      [...RED],
      [...GREEN],
      [...BLUE],
      [...WHITE],
    ]);
  });

  it("gives one tile and no thumbnail when the grid is 1×1, or without a thumbnail when asked", async () => {
    expect(tileImage(solidImage(30, 30, RED), { imageSize: 32 }).tiles.length).toBe(1);
    expect(tileImage(quadrants(64), { imageSize: 32, useThumbnail: false }).tiles.length).toBe(4);
    const fixed = tileImage(solidImage(300, 100, BLUE), { imageSize: 32, dynamic: false });
    expect([fixed.tiles.length, fixed.tiles[0]!.width, fixed.tiles[0]!.height]).toEqual([1, 32, 32]);
  });

  it("resizes bicubically: a linear ramp stays linear inside, away from the edges", async () => {
    const ramp = solidImage(64, 4, [0, 0, 0]);
    for (let x = 0; x < 64; x++) for (let y = 0; y < 4; y++) ramp.data.fill(x * 4, (y * 64 + x) * 3, (y * 64 + x) * 3 + 3);
    const { tiles } = tileImage(ramp, { imageSize: 32, dynamic: false });
    // Cubic interpolation reproduces linear functions: output x' samples input (x' + 0.5)·2 - 0.5.
    for (let x = 4; x < 28; x++) expect(Math.abs(pixel(tiles[0]!, x, 16)[0]! - ((x + 0.5) * 2 - 0.5) * 4)).toBeLessThanOrEqual(1);
  });
});

describe("normalisation", () => {
  it("applies ImageNet mean and std per channel, channel-first", () => {
    const out = normalizeTiles([solidImage(2, 2, [255, 0, 128]), blankImage(2)], 2);
    expect(out.length).toBe(2 * 3 * 4);
    // (1 - 0.485)/0.229, (0 - 0.456)/0.224, (128/255 - 0.406)/0.225, then black: -mean/std.
    const want = [
      2.2489082969432315, -2.0357142857142856, 0.42649237472766886, -2.1179039301310043, -2.0357142857142856, -1.8044444444444445,
    ];
    want.forEach((v, k) => {
      const plane = out.subarray(k * 4, k * 4 + 4);
      plane.forEach((x) => expect(Math.abs(x - v)).toBeLessThan(1e-6));
    });
    expect(() => normalizeTiles([solidImage(3, 2, RED)], 2)).toThrow(/tile 0 is 3×2, expected 2×2/);
  });

  it("preprocessImages stacks every image's tiles into float32 [N, 3, S, S]", async () => {
    const png = join(dir, "q.png"),
      jpg = join(dir, "s.jpg");
    await saveImage(quadrants(64), png);
    await saveImage(solidImage(40, 20, GREEN), jpg);
    const { pixelValues, numTiles, grids } = await preprocessImages([png, jpg, blankImage(8)], { imageSize: 32 });
    expect(numTiles).toEqual([5, 3, 1]);
    expect(grids).toEqual([
      { cols: 2, rows: 2 },
      { cols: 2, rows: 1 },
      { cols: 1, rows: 1 },
    ]);
    expect([pixelValues.dtype, ...pixelValues.shape]).toEqual(["float32", 9, 3, 32, 32]);
    const v = pixelValues.dataSync();
    expect(Math.abs(v[0]! - (1 - 0.485) / 0.229)).toBeLessThan(1e-6); // tile 0 of the PNG is red: R plane
    const plane = 32 * 32,
      lastTile = 8 * 3 * plane;
    expect(Math.abs(v[lastTile + 2 * plane]! - -0.406 / 0.225)).toBeLessThan(1e-6); // the blank image's B plane
  });
});

describe("decoding", () => {
  it("names the file that does not decode or does not exist", async () => {
    const bad = join(dir, "broken.png");
    writeFileSync(bad, "this is not a png");
    await expect(decodeImage(bad)).rejects.toThrow(ImageError);
    await expect(decodeImage(bad)).rejects.toThrow(new RegExp(`${bad}: not a decodable image`));
    await expect(decodeImage(join(dir, "missing.jpg"))).rejects.toThrow(/missing.jpg: cannot open \(ENOENT\)/);
    await expect(preprocessImages([bad], { imageSize: 32 })).rejects.toThrow(/broken.png/);
    await expect(decodeImage(new Uint8Array([1, 2, 3]), "upload #3")).rejects.toThrow(/^upload #3: not a decodable image/);
  });

  it("turns greyscale and RGBA into RGB, alpha dropped without compositing", async () => {
    const grey = await sharp(Buffer.from([0, 100, 200, 255]), { raw: { width: 2, height: 2, channels: 1 } })
      .png()
      .toBuffer();
    const g = await decodeImage(grey);
    expect([g.width, g.height, ...g.data]).toEqual([2, 2, 0, 0, 0, 100, 100, 100, 200, 200, 200, 255, 255, 255]);
    const rgba = await sharp(Buffer.from([10, 20, 30, 0, 40, 50, 60, 128]), { raw: { width: 2, height: 1, channels: 4 } })
      .png()
      .toBuffer();
    expect(Array.from((await decodeImage(rgba)).data)).toEqual([10, 20, 30, 40, 50, 60]);
  });

  it("round-trips a PNG exactly", async () => {
    const img = quadrants(16);
    img.data[5] = 77;
    const path = join(dir, "exact.png");
    await saveImage(img, path);
    expect(await decodeImage(path)).toEqual(img);
  });
});

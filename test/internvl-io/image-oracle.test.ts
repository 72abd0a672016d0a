/**
 * Image preprocessing against Pillow + torch (test/oracle/internvl_image.py):
 * the same grid, the same tiles and bit-identical float32 pixel values, for
 * upsampled, downsampled, tied and single-tile images, PNG and JPEG.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { beforeAll, expect, it } from "vitest";
import { preprocessImages, saveImage, type RGBImage } from "../../src/models/internvl/io.js";
import { describeOracle, runOracle } from "../helpers/torch.js";
import { tempDir } from "../io/helpers.js";

const dir = tempDir("img-oracle");

/** Smooth gradients, a ripple and seeded noise: content where resampling errors would show. */
function texture(width: number, height: number, seed: number): RGBImage {
  const data = new Uint8Array(width * height * 3);
  let s = seed >>> 0;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const noise = (s >>> 24) / 8;
      const i = (y * width + x) * 3;
      data[i] = Math.min(255, (255 * x) / width + noise);
      data[i + 1] = Math.min(255, 128 + 100 * Math.sin(x / 7 + y / 11) + noise);
      data[i + 2] = Math.min(255, ((255 * y) / height) * ((x >> 4) % 2) + noise);
    }
  return { width, height, data };
}

interface Case {
  name: string;
  width: number;
  height: number;
  ext: "png" | "jpg";
  image_size: number;
  min_tiles: number;
  max_tiles: number;
  use_thumbnail: boolean;
  return_pixels: boolean;
}
const mk = (name: string, width: number, height: number, image_size: number, extra: Partial<Case> = {}): Case => ({
  name,
  width,
  height,
  ext: "png",
  image_size,
  min_tiles: 1,
  max_tiles: 12,
  use_thumbnail: true,
  return_pixels: image_size <= 64,
  ...extra,
});

const cases: Case[] = [
  mk("4:3, upsampled to 12 tiles", 200, 150, 64),
  mk("10:3, tie won by the larger grid", 1000, 300, 64),
  mk("tall and narrow", 90, 700, 64),
  mk("at most 6 tiles", 777, 555, 64, { max_tiles: 6 }),
  mk("one tile, downsampled", 333, 301, 64, { max_tiles: 1 }),
  mk("no thumbnail", 500, 260, 64, { use_thumbnail: false }),
  mk("JPEG (decoders must agree too)", 300, 200, 64, { ext: "jpg" }),
  mk("a 640×480 photo at 448 pixels: 13 tiles", 640, 480, 448),
];

describeOracle("image preprocessing vs Pillow + torch", () => {
  let results: { grid: [number, number]; tiles: number; sha256: string; pixels_b64?: string }[];
  const paths = cases.map((c, i) => join(dir, `case${i}.${c.ext}`));
  beforeAll(async () => {
    await Promise.all(cases.map((c, i) => saveImage(texture(c.width, c.height, i + 1), paths[i]!)));
    results = (
      await runOracle<{ results: typeof results }>("internvl_image.py", { cases: cases.map((c, i) => ({ ...c, path: paths[i] })) })
    ).results;
  });

  cases.forEach((c, i) => {
    it(`${c.name}: ${c.width}×${c.height}, S=${c.image_size}`, async () => {
      const { pixelValues, numTiles, grids } = await preprocessImages([paths[i]!], {
        imageSize: c.image_size,
        minTiles: c.min_tiles,
        maxTiles: c.max_tiles,
        useThumbnail: c.use_thumbnail,
      });
      const want = results[i]!;
      expect([grids[0]!.cols, grids[0]!.rows]).toEqual(want.grid);
      expect(numTiles[0]).toBe(want.tiles);
      const ours = pixelValues.dataSync() as Float32Array;
      if (want.pixels_b64) {
        const theirs = new Float32Array(new Uint8Array(Buffer.from(want.pixels_b64, "base64")).buffer);
        let maxDiff = 0;
        for (let k = 0; k < theirs.length; k++) maxDiff = Math.max(maxDiff, Math.abs(ours[k]! - theirs[k]!));
        expect(maxDiff).toBe(0);
      }
      expect(
        createHash("sha256")
          .update(new Uint8Array(ours.buffer, ours.byteOffset, ours.byteLength))
          .digest("hex"),
      ).toBe(want.sha256);
    });
  });
});

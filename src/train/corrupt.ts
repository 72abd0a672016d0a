/**
 * mDPO's corrupted image. mDPO (Wang et al., 2024, "mDPO: Conditional
 * Preference Optimization for Multimodal Large Language Models") adds a
 * conditional term that prefers the chosen reply given the real image over
 * the same reply given a corrupted image, so the model cannot win the
 * preference from the text alone; the paper's corruption is a random crop
 * that keeps at most 20% of the image. Here each tile is cropped to a random
 * window of 1–20% of its area and resized back to the tile size (nearest
 * neighbour), seeded by the image paths and the run's seed: the same image
 * gets the same corruption every epoch, in the reference pass and on resume.
 */
import { fromStorage } from "../ops/create.js";
import { gather } from "../ops/indexing.js";
import { reshape } from "../ops/shape.js";
import { scope } from "../tensor/scope.js";
import { Stream } from "../data/rng.js";
import { foldIn } from "../tensor/random.js";
import { PixelCache } from "./images.js";
import type { Pixels, VisionLanguageModel } from "./model.js";

/** Smallest and largest kept fraction of a tile's area. */
export const KEPT_AREA: readonly [number, number] = [0.01, 0.2];

/**
 * Crop every tile of `px` ([tiles, C, H, W]) to a random window and resize
 * it back: the window is drawn on the host, the pixels move by one gather
 * where they live (no GPU readback in a training step).
 */
export async function corruptPixels(px: Pixels, seed: number): Promise<Pixels> {
  const [tiles, C, H, W] = px.pixelValues.shape as [number, number, number, number];
  const from = new Int32Array(px.pixelValues.size); // output position -> source position
  const rng = new Stream(seed);
  for (let t = 0; t < tiles; t++) {
    const area = KEPT_AREA[0] + rng.next() * (KEPT_AREA[1] - KEPT_AREA[0]);
    const aspect = Math.exp((rng.next() - 0.5) * Math.log(4 / 3) * 2); // in [3/4, 4/3], as torchvision's RandomResizedCrop
    const h = Math.max(1, Math.min(H, Math.round(Math.sqrt(area / aspect) * H)));
    const w = Math.max(1, Math.min(W, Math.round(Math.sqrt(area * aspect) * W)));
    const y0 = rng.int(H - h + 1),
      x0 = rng.int(W - w + 1);
    for (let c = 0; c < C; c++) {
      const base = (t * C + c) * H * W;
      for (let y = 0; y < H; y++) {
        const sy = y0 + Math.floor((y * h) / H);
        for (let x = 0; x < W; x++) from[base + y * W + x] = base + sy * W + x0 + Math.floor((x * w) / W);
      }
    }
  }
  const source = px.pixelValues;
  const pixelValues = scope(() =>
    reshape(gather(reshape(source, [source.size]), fromStorage(from, [from.length], "int32", source.device), 0), source.shape),
  );
  return { pixelValues, tiles: px.tiles };
}

/** Corrupted images kept (oldest dropped first), as PixelCache bounds the real ones. */
const CAPACITY = 512;

/** A PixelCache whose images come back corrupted (for the mDPO passes), built on a cache of the real pixels. */
export class CorruptedPixelCache extends PixelCache {
  private readonly corrupted = new Map<string, Promise<Pixels>>();
  constructor(
    model: VisionLanguageModel<any>,
    private readonly real: PixelCache,
    private readonly seed: number,
  ) {
    super(model, 0);
  }

  override get(paths: readonly string[]): Promise<Pixels> {
    const key = paths.join("\0");
    let p = this.corrupted.get(key);
    if (!p) {
      p = this.real.get(paths).then((px) => corruptPixels(px, foldIn(this.seed, key)));
      this.corrupted.set(key, p);
      while (this.corrupted.size > CAPACITY) {
        const [oldest, evicted] = this.corrupted.entries().next().value as [string, Promise<Pixels>];
        this.corrupted.delete(oldest);
        void evicted.then(
          (px) => px.pixelValues.dispose(),
          () => undefined,
        );
      }
    }
    return p;
  }

  override async clear(): Promise<void> {
    const all = [...this.corrupted.values()];
    this.corrupted.clear();
    for (const p of all) (await p.catch(() => null))?.pixelValues.dispose();
  }
}

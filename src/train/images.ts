/** A bounded cache of preprocessed pixels, so each image is decoded once per run. */
import { toBackend } from "../ops/move.js";
import type { Pixels, VisionLanguageModel } from "./model.js";

export class PixelCache {
  private readonly entries = new Map<string, Promise<Pixels>>();
  /**
   * `device`: where the pixels are kept (the parameters' backend); images
   * the model decodes elsewhere are moved there once, explicitly, when loaded.
   * Default: wherever the model makes them (the current backend).
   */
  constructor(
    private readonly model: VisionLanguageModel<any>,
    private readonly capacity = 512,
    private readonly device?: string,
  ) {}

  /** The pixels for these paths (least recently used entries are disposed past capacity). */
  get(paths: readonly string[]): Promise<Pixels> {
    const key = paths.join("\0");
    let p = this.entries.get(key);
    if (p) {
      this.entries.delete(key);
      this.entries.set(key, p);
      return p;
    }
    p = this.load(paths);
    this.entries.set(key, p);
    while (this.entries.size > this.capacity) {
      const [oldest, evicted] = this.entries.entries().next().value as [string, Promise<Pixels>];
      this.entries.delete(oldest);
      void evicted.then(
        (px) => px.pixelValues.dispose(),
        () => undefined,
      );
    }
    return p;
  }

  private async load(paths: readonly string[]): Promise<Pixels> {
    const px = await this.model.loadImages(paths);
    if (this.device === undefined || px.pixelValues.device === this.device) return px;
    const moved = await toBackend(px.pixelValues, this.device);
    px.pixelValues.dispose();
    return { ...px, pixelValues: moved };
  }

  /** Release every cached tensor. */
  async clear(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    for (const p of all) (await p.catch(() => null))?.pixelValues.dispose();
  }
}

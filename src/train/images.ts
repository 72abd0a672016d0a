/** A bounded cache of preprocessed pixels, so each image is decoded once per run. */
import type { Pixels, VisionLanguageModel } from "./model.js";

export class PixelCache {
  private readonly entries = new Map<string, Promise<Pixels>>();
  constructor(
    private readonly model: VisionLanguageModel<any>,
    private readonly capacity = 512,
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
    p = this.model.loadImages(paths);
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

  /** Release every cached tensor. */
  async clear(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    for (const p of all) (await p.catch(() => null))?.pixelValues.dispose();
  }
}

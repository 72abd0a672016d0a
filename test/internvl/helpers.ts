/** Shared fixtures for the InternVL tests: temporary model directories and prompts with image tokens. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import * as ag from "../../src/index.js";

export const iv = ag.models.internvl;

const dirs: string[] = [];
/** A fresh temporary directory, removed after the file's tests. */
export function tempDir(tag: string): string {
  const d = mkdtempSync(join(tmpdir(), `anchorgrad-internvl-${tag}-`));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/**
 * Two prompts of equal length; row 0 holds image A (tilesA tiles), row 1
 * image B (tilesB tiles); the rest are ordinary words (ids 1..40), padded.
 */
export function twoImagePrompt(
  c: ag.models.internvl.InternVLConfig,
  tilesA: number,
  tilesB: number,
  perTile = iv.tokensPerTile(c),
): ag.Tensor {
  const img = (n: number) => new Array<number>(n * perTile).fill(c.imageTokenId);
  const rowA = [5, 6, ...img(tilesA), 7, 8, 9];
  const rowB = [10, ...img(tilesB), 11, 12];
  const T = Math.max(rowA.length, rowB.length) + 2;
  const pad = (r: number[]) => [...r, ...Array.from({ length: T - r.length }, (_, i) => 20 + i)];
  return ag.tensor([pad(rowA), pad(rowB)], { dtype: "int32" });
}

/** Every parameter perturbed so that biases, norm weights and layer scales are all non-trivial. */
export function jitter(params: ag.models.internvl.InternVLParams, seed: number, scale = 0.2): ag.models.internvl.InternVLParams {
  let k = 0;
  return ag.treeMap(
    (t: ag.Tensor) => ag.add(t, ag.randomNormal(t.shape, { seed: seed * 1000 + k++, std: scale, dtype: t.dtype })),
    params as never,
  ) as never;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let w = 0;
  for (let i = 0; i < a.length; i++) w = Math.max(w, Math.abs(a[i]! - b[i]!));
  return w;
}

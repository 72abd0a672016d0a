/** Elementwise closeness of tensors, with a report naming the worst entry. */
import { expect } from "vitest";
import * as ag from "../../src/index.js";

export interface Tolerance {
  rtol?: number;
  atol?: number;
}

export function expectClose(actual: ag.Tensor, expected: ag.Tensor, { rtol = 1e-10, atol = 1e-12 }: Tolerance = {}, label = ""): void {
  expect(actual.shape, `${label} shape`).toEqual(expected.shape);
  const a = actual.dataSync(),
    b = expected.dataSync();
  let worst = -1,
    worstExcess = 0;
  for (let i = 0; i < b.length; i++) {
    if (Object.is(a[i], b[i])) continue;
    const excess = Math.abs(a[i]! - b[i]!) - (atol + rtol * Math.abs(b[i]!));
    if (!(excess <= worstExcess)) {
      worst = i;
      worstExcess = Number.isNaN(excess) ? Infinity : excess;
    }
  }
  if (worst >= 0) expect.fail(`${label} flat index ${worst}: ${a[worst]} vs expected ${b[worst]} (rtol ${rtol}, atol ${atol})`);
}

/** ⟨a, b⟩ as a number (float64). */
export const dot = (a: ag.Tensor, b: ag.Tensor): number => ag.sum(ag.mul(ag.cast(a, "float64"), ag.cast(b, "float64"))).item();

/** float32 against a float64 reference: rtol 1e-4, atol scaled by the reference's largest magnitude (sums of many terms cancel). */
export function expectFloat32Close(actual: ag.Tensor, expected: ag.Tensor, label: string): void {
  const ref = Array.from(expected.dataSync());
  const scale = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  expectClose(ag.cast(actual, "float64"), ag.cast(expected, "float64"), { rtol: 1e-4, atol: 1e-5 * (1 + scale) }, label);
}

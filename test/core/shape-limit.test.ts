/** A shape over the element limit is refused by name before anything is allocated. */
import { expect, it } from "vitest";
import * as ag from "../../src/index.js";

it("a shape over the element limit is a ShapeError before allocation", () => {
  const before = ag.memoryStats().cpu?.tensors ?? 0;
  expect(() => ag.zeros([1e10])).toThrow(ag.ShapeError);
  expect(() => ag.zeros([1e10])).toThrow(/full: shape \[10000000000\] has 10000000000 elements, over the 2147483647/);
  expect(() => ag.randomNormal([1e5, 1e5], { seed: 1 })).toThrow(/randomNormal: shape \[100000, 100000\]/);
  expect(ag.memoryStats().cpu?.tensors ?? 0).toBe(before);
});

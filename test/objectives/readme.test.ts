/**
 * The README's "write your own objective" example, exactly as written between
 * its markers, runs, type-checks under strict TypeScript, and its gradient
 * step lowers the loss. The README cannot rot without this test failing.
 */
import { afterAll, describe, expect, it } from "vitest";
import { runReadmeBlock } from "../helpers/readme.js";

describe("README: write your own objective", () => {
  const example = runReadmeBlock("objective-example");
  afterAll(() => example.cleanup());

  it("imports anchorgrad the way a user does", () => {
    expect(example.code).toMatch(/^import \* as ag from "anchorgrad";$/m);
    expect(example.source).not.toMatch(/"anchorgrad"/);
  });

  it("runs, and its gradient step lowers the loss", async () => {
    const { code: exit, out } = await example.execution;
    expect(exit, out).toBe(0);
    const m = /loss (\S+) -> (\S+)/.exec(out);
    expect(m, out).not.toBeNull();
    const [before, after] = [Number(m![1]), Number(m![2])];
    expect(Number.isFinite(before) && Number.isFinite(after)).toBe(true);
    expect(after).toBeLessThan(before);
  });

  it("type-checks under strict TypeScript", async () => {
    expect(await example.typeErrors).toEqual([]);
  });
});

/** The README's "autodiff in 30 seconds" block runs as written and type-checks. */
import { afterAll, describe, expect, it } from "vitest";
import { runReadmeBlock } from "../helpers/readme.js";

describe("README: autodiff in 30 seconds", () => {
  const example = runReadmeBlock("autodiff-example");
  afterAll(() => example.cleanup());

  it("runs (its checkGrads call throws on a wrong gradient) and prints the gradient", async () => {
    const { code, out } = await example.execution;
    expect(code, out).toBe(0);
    const m = /loss (\S+), dloss\/dw \[([^\]]+)\]/.exec(out);
    expect(m, out).not.toBeNull();
    expect(m![2]!.split(",").map(Number).every(Number.isFinite)).toBe(true);
  });

  it("type-checks under strict TypeScript", async () => {
    expect(await example.typeErrors).toEqual([]);
  });
});

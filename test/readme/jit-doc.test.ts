/** docs/jit.md: its makeGraph example runs as written, type-checks, and prints exactly the output the page shows. */
import { readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { runReadmeBlock } from "../helpers/readme.js";

const DOC = "docs/jit.md";

/** The ```text block of the example's section: what the page says it prints. */
function printed(): string {
  const doc = readFileSync(new URL(`../../${DOC}`, import.meta.url), "utf8");
  const section = doc.slice(doc.indexOf("<!-- jit-graph:start -->"), doc.indexOf("<!-- jit-graph:end -->"));
  const block = /```text\n([\s\S]*?)```/.exec(section);
  if (!block) throw new Error(`${DOC}: the jit-graph section has no \`\`\`text block`);
  return block[1]!;
}

describe("docs/jit.md: the makeGraph example", () => {
  const example = runReadmeBlock("jit-graph", undefined, DOC);
  afterAll(() => example.cleanup());

  it("prints the graphs and the trace count the page shows", async () => {
    const { code, out } = await example.execution;
    expect(code, out).toBe(0);
    expect(out).toBe(printed());
  });

  it("type-checks under strict TypeScript", async () => {
    expect(await example.typeErrors).toEqual([]);
  });
});

/** docs/train.md's field table and docs/train.schema.json are generated from the config schema; stale docs fail here. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DOC, renderDoc, SCHEMA, schemaText } from "../../scripts/train-docs.js";
import { trainConfigSchema } from "../../src/train/config-schema.js";

describe("docs/train.md", () => {
  it("matches the schema (run `npm run docs:train` after changing src/train/config-schema.ts)", () => {
    const doc = readFileSync(DOC, "utf8");
    expect(doc).toBe(renderDoc(doc));
    expect(readFileSync(SCHEMA, "utf8")).toBe(schemaText());
  });

  it("documents every top-level field", () => {
    const doc = readFileSync(DOC, "utf8");
    for (const k of Object.keys(trainConfigSchema.shape)) expect(doc).toContain(`| \`${k}\` |`);
  });
});

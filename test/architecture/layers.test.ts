/**
 * The import graph follows shared/docs/DESIGN.md's layering: dependency-cruiser
 * with .dependency-cruiser.cjs finds no cycle (type-only imports included)
 * and no import against the layer order, and the same rules do fail on a
 * tree that breaks them.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const depcruise = join(root, "node_modules/.bin/depcruise");

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
}

function violations(cwd: string): Violation[] {
  const out = execFileSync(depcruise, ["src", "--config", ".dependency-cruiser.cjs", "--output-type", "json"], {
    cwd,
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  return (JSON.parse(out) as { summary: { violations: Violation[] } }).summary.violations;
}

describe("the import graph", () => {
  it("has no cycle and no upward import in src/", () => {
    const found = violations(root).map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`);
    expect(found).toEqual([]);
  });

  it("the rules catch an upward import, a type-only cycle and a sibling import", () => {
    const dir = mkdtempSync(join(tmpdir(), "ag-layers-"));
    const file = (path: string, text: string) => {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    };
    copyFileSync(join(root, ".dependency-cruiser.cjs"), join(dir, ".dependency-cruiser.cjs"));
    file("tsconfig.json", JSON.stringify({ compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", strict: true } }));
    file("src/tensor/tensor.ts", 'import { add } from "../ops/add.js";\nexport const t = add;\n');
    file("src/ops/add.ts", "export const add = 1;\n");
    file("src/nn/a.ts", 'import type { B } from "./b.js";\nexport type A = B[];\n');
    file("src/nn/b.ts", 'import type { A } from "./a.js";\nexport type B = A | number;\n');
    file("src/optim/sgd.ts", 'import type { A } from "../nn/a.js";\nexport type S = A;\n');
    const names = violations(dir).map((v) => v.rule.name);
    expect(names).toContain("tensor-imports-upward");
    expect(names).toContain("no-circular");
    expect(names).toContain("optim-imports-a-sibling-layer");
  });
});

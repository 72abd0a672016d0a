/** The build makes dist/cli/main.js executable, so `npx anchorgrad` works in a fresh clone (tsc writes it without the exec bit). */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../..");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));

describe("the bin file", () => {
  it("is chmodded +x by scripts/bin-executable.mjs, which build (and so prepare/npm install) runs", () => {
    const dir = mkdtempSync(join(tmpdir(), "ag-bin-"));
    mkdirSync(join(dir, "dist/cli"), { recursive: true });
    writeFileSync(join(dir, "package.json"), JSON.stringify({ bin: pkg.bin }));
    const bin = join(dir, pkg.bin.anchorgrad);
    writeFileSync(bin, "#!/usr/bin/env node\n");
    chmodSync(bin, 0o644); // as tsc leaves it
    const r = spawnSync(process.execPath, [join(ROOT, "scripts/bin-executable.mjs"), dir], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(statSync(bin).mode & 0o111).toBe(0o111);
    expect(pkg.scripts.build).toMatch(/^tsc -p tsconfig\.build\.json && node scripts\/bin-executable\.mjs$/);
    expect(pkg.scripts.prepare).toBe("npm run build");
  });

  it("fails loudly when the bin is missing (the build did not run)", () => {
    const dir = mkdtempSync(join(tmpdir(), "ag-bin-missing-"));
    writeFileSync(join(dir, "package.json"), JSON.stringify({ bin: pkg.bin }));
    const r = spawnSync(process.execPath, [join(ROOT, "scripts/bin-executable.mjs"), dir], { encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/dist\/cli\/main\.js: ENOENT/);
  });

  it("starts with a shebang", () => {
    expect(readFileSync(join(ROOT, "src/cli/main.ts"), "utf8")).toMatch(/^#!\/usr\/bin\/env node\n/);
  });
});

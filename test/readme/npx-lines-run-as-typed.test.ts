/**
 * Every `npx anchorgrad ...` line of README.md and docs/*.md runs as typed,
 * in order per file, in a fresh folder holding what the lines refer to:
 * run.json (docs/train.md's example config, shortened to 2 steps of 2 pairs
 * so the test is quick), data/ (synthetic shapes pairs), photo.jpg, and
 * InternVL3-1B (a tiny random model under the real checkpoint's name; the
 * real one is a 2 GB download). The command runs from src/ through tsx, as
 * `npx anchorgrad` runs dist/ after `npm install`; test/cli/bin-is-executable-after-build
 * covers the bin file itself.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { generateShapes } from "../../src/data/index.js";
import { createModel } from "../../src/models/internvl/index.js";
import { npxLines } from "../helpers/shell-lines.js";

const ROOT = join(import.meta.dirname, "../..");
const TSX = pathToFileURL(createRequire(join(ROOT, "package.json")).resolve("tsx")).href;
const DOCS = [
  "README.md",
  ...readdirSync(join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

/** docs/train.md's ```json block: the example config. */
function exampleConfig(): Record<string, unknown> {
  const m = /```json\n([\s\S]*?)```/.exec(readFileSync(join(ROOT, "docs/train.md"), "utf8"));
  if (!m) throw new Error("docs/train.md has no ```json example config");
  return JSON.parse(m[1]!);
}

async function fixture(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "ag-npx-lines-"));
  await generateShapes({ out: join(dir, "data"), seed: 0, sftImages: 2, pairImages: 4, evalImages: 2, imageSize: 56 });
  writeFileSync(join(dir, "run.json"), JSON.stringify({ ...exampleConfig(), steps: 2, batchSize: 2, gradientAccumulationSteps: 1 }));
  await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 20, g: 90, b: 200 } } })
    .jpeg()
    .toFile(join(dir, "photo.jpg"));
  await createModel(join(dir, "InternVL3-1B"), { preset: "tiny", layout: "hf", seed: 1 });
  return dir;
}

const withLines = DOCS.map((f) => [f, npxLines(join(ROOT, f))] as const).filter(([, lines]) => lines.length > 0);

describe("npx anchorgrad lines in the docs", () => {
  it("are found where we expect them", () => {
    expect(withLines.map(([f]) => f)).toEqual(expect.arrayContaining(["README.md", "docs/internvl.md", "docs/train.md"]));
  });

  it.each(withLines)("%s: every line exits 0", async (_file, lines) => {
    const cwd = await fixture();
    for (const l of lines) {
      const r = spawnSync(process.execPath, ["--import", TSX, join(ROOT, "src/cli/main.ts"), ...l.argv.slice(2)], {
        cwd,
        encoding: "utf8",
        timeout: 120_000,
        env: { ...process.env, ANCHORGRAD_BACKEND: "" },
      });
      expect(r.status, `${l.file}:${l.line}: ${l.text}\n${r.stdout}\n${r.stderr}`).toBe(0);
      if (l.argv.includes("--help")) expect(r.stdout).toMatch(/\(path; required\)/);
    }
  });
});

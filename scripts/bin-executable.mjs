#!/usr/bin/env node
/**
 * Make every `bin` entry of package.json executable (chmod +x), after tsc has
 * written them. tsc emits files without the exec bit and npm/npx set it only
 * when they first link a package, so without this step `npx anchorgrad` fails
 * with "Permission denied" in a rebuilt or re-cloned tree. Runs as part of
 * `npm run build` (and so of `npm install`, through `prepare`).
 *
 *   node scripts/bin-executable.mjs [package-dir]
 */
import { chmodSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

const dir = resolve(process.argv[2] ?? ".");
const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
const bins = typeof pkg.bin === "string" ? [pkg.bin] : Object.values(pkg.bin ?? {});
for (const rel of bins) {
  const file = join(dir, rel);
  let mode;
  try {
    mode = statSync(file).mode;
  } catch (e) {
    console.error(`bin-executable: ${file}: ${e.code ?? e.message} (was the build run first?)`);
    process.exit(1);
  }
  chmodSync(file, mode | 0o111);
}

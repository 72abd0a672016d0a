/**
 * Run a README example exactly as written: the ```ts block between
 * `<!-- NAME:start -->` and `<!-- NAME:end -->`, with `anchorgrad` mapped to
 * this checkout's src/index.ts, executed with tsx and type-checked strictly.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export function readmeBlock(name: string, doc = "README.md"): string {
  const readme = readFileSync(join(ROOT, doc), "utf8");
  const start = `<!-- ${name}:start -->`,
    end = `<!-- ${name}:end -->`;
  const [i, j] = [readme.indexOf(start), readme.indexOf(end)];
  if (i < 0 || j < i) throw new Error(`${doc} has no ${start} ... ${end} section`);
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(i, j));
  if (!block) throw new Error(`the ${name} section of ${doc} has no \`\`\`ts code block`);
  return block[1]!;
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (out += d));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code, out }));
  });
}

export interface ReadmeRun {
  code: string;
  source: string;
  /** exit code and output of running the example with tsx */
  execution: Promise<{ code: number | null; out: string }>;
  /** strict type errors in the example itself (the library is checked by `npm run typecheck`) */
  typeErrors: Promise<string[]>;
  cleanup(): void;
}

/**
 * Start running and type-checking a README block side by side; `edit` changes
 * the code first (a variant of the example); `doc` reads another markdown file (docs/jit.md).
 */
export function runReadmeBlock(name: string, edit: (code: string) => string = (c) => c, doc = "README.md"): ReadmeRun {
  const dir = mkdtempSync(join(tmpdir(), "anchorgrad-readme-"));
  const code = edit(readmeBlock(name, doc));
  const file = join(dir, "example.mts"); // .mts: an ES module wherever the temp dir is
  const source = code.replace(/from "anchorgrad"/g, `from ${JSON.stringify(join(ROOT, "src/index.ts"))}`);
  writeFileSync(file, source);
  const execution = run(join(ROOT, "node_modules/.bin/tsx"), [file]);
  const typeErrors = run(join(ROOT, "node_modules/.bin/tsc"), [
    "--noEmit",
    "--strict",
    "--target",
    "es2022",
    "--module",
    "nodenext",
    "--moduleResolution",
    "nodenext",
    "--allowImportingTsExtensions",
    "--skipLibCheck",
    "--types",
    "node,@webgpu/types",
    file,
  ]).then(({ out }) => out.split("\n").filter((line) => line.includes("example.mts")));
  return { code, source, execution, typeErrors, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

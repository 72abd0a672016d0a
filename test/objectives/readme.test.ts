/**
 * The README's "write your own objective" example, exactly as written between
 * its markers, runs (with `anchorgrad` mapped to this checkout's
 * src/index.ts), type-checks under strict TypeScript, and its gradient step
 * lowers the loss. The README cannot rot without this test failing.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const START = "<!-- objective-example:start -->", END = "<!-- objective-example:end -->";

function exampleCode(): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const [i, j] = [readme.indexOf(START), readme.indexOf(END)];
  if (i < 0 || j < i) throw new Error(`README.md has no ${START} ... ${END} section`);
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(i, j));
  if (!block) throw new Error("the objective-example section of README.md has no ```ts code block");
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

describe("README: write your own objective", () => {
  const dir = mkdtempSync(join(tmpdir(), "anchorgrad-readme-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const code = exampleCode();
  const file = join(dir, "example.mts"); // .mts: an ES module wherever the temp dir is
  const source = code.replace(/from "anchorgrad"/g, `from ${JSON.stringify(join(ROOT, "src/index.ts"))}`);
  writeFileSync(file, source);
  // both processes start now and run side by side; each test awaits its own
  const execution = run(join(ROOT, "node_modules/.bin/tsx"), [file]);
  const typecheck = run(join(ROOT, "node_modules/.bin/tsc"), [
    "--noEmit", "--strict", "--target", "es2022", "--module", "nodenext", "--moduleResolution", "nodenext",
    "--allowImportingTsExtensions", "--skipLibCheck", "--types", "node,@webgpu/types", file,
  ]);

  it("imports anchorgrad the way a user does", () => {
    expect(code).toMatch(/^import \* as ag from "anchorgrad";$/m);
    expect(source).not.toMatch(/"anchorgrad"/);
  });

  it("runs, and its gradient step lowers the loss", async () => {
    const { code: exit, out } = await execution;
    expect(exit, out).toBe(0);
    const m = /loss (\S+) -> (\S+)/.exec(out);
    expect(m, out).not.toBeNull();
    const [before, after] = [Number(m![1]), Number(m![2])];
    expect(Number.isFinite(before) && Number.isFinite(after)).toBe(true);
    expect(after).toBeLessThan(before);
  });

  it("type-checks under strict TypeScript", async () => {
    const { out } = await typecheck;
    // only the example's own errors count here; the library is type-checked by `npm run typecheck`
    const mine = out.split("\n").filter((line) => line.includes("example.mts"));
    expect(mine, out).toEqual([]);
  });
});

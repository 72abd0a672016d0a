/**
 * The threaded wasm GEMM from both ways the library is loaded: TypeScript
 * sources through tsx, and tsc's JavaScript run by plain node. Each child
 * computes an exact integer matmul on the worker threads and must then exit
 * on its own: workers never keep a process alive.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));
const fixtures = fileURLToPath(new URL("./fixtures", import.meta.url));
const out = mkdtempSync(join(tmpdir(), "anchorgrad-dist-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function child(args: string[]): { bad: number; threads: number } {
  const r = spawnSync(process.execPath, args, {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, ANCHORGRAD_THREADS: "2" },
  });
  expect(r.signal, `child did not exit on its own: ${r.stderr}`).toBeNull();
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as { bad: number; threads: number };
}

describe("the wasm GEMM outside vitest", () => {
  it("from TypeScript sources (tsx): exact result, two threads, the process exits", () => {
    const res = child([join(root, "node_modules/tsx/dist/cli.mjs"), join(fixtures, "matmul-exit.ts")]);
    expect(res).toEqual({ bad: 0, threads: 2 });
  });

  it("from compiled JavaScript (tsc output run by node): exact result, two threads, the process exits", () => {
    // compile just the kernel's import closure: the rest of src/ is not needed and may be mid-edit
    const tsc = spawnSync(
      process.execPath,
      [
        join(root, "node_modules/typescript/bin/tsc"),
        "--module",
        "nodenext",
        "--moduleResolution",
        "nodenext",
        "--target",
        "es2022",
        "--strict",
        "--skipLibCheck",
        "--types",
        "node",
        "--rootDir",
        join(root, "src"),
        "--outDir",
        out,
        join(root, "src/backends/cpu/matmul.ts"),
      ],
      { cwd: root, encoding: "utf8", timeout: 120_000 },
    );
    expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0);
    const res = child([join(fixtures, "matmul-exit-dist.mjs"), out]);
    expect(res).toEqual({ bad: 0, threads: 2 });
  });
});

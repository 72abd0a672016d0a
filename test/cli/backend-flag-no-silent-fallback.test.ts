/**
 * --backend cpu|webgpu on every computing command, ANCHORGRAD_BACKEND as its
 * default; an unknown name lists the backends, an unavailable one says why and
 * how to get it. Never a silent fallback to the CPU.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import type { BackendStatus } from "../../src/backends/backend.js";
import { currentBackend } from "../../src/backends/registry.js";
import { UsageError } from "../../src/cli/args.js";
import { selectBackend } from "../../src/cli/backend.js";
import { commands } from "../../src/cli/commands/index.js";
import { runCli } from "../../src/cli/run.js";
import { AnchorError } from "../../src/tensor/errors.js";

const noAdapter: BackendStatus[] = [
  { name: "cpu", available: true },
  { name: "webgpu", available: false, reason: "no WebGPU adapter (Dawn found no Vulkan driver)" },
];

afterEach(() => {
  delete process.env.ANCHORGRAD_BACKEND;
});

describe("--backend", () => {
  it("is a flag of train, demo and generate, defaulting to ANCHORGRAD_BACKEND", () => {
    for (const name of ["train", "demo", "generate"]) {
      const help = commands
        .find((c) => c.name === name)!
        .help()
        .replace(/\n {10,}/g, " ");
      expect(help, name).toMatch(
        /--backend <string>\s+where tensors live and kernels run: cpu or webgpu .*default: \$ANCHORGRAD_BACKEND, else cpu/,
      );
    }
  });

  it("an unknown name is a usage error listing the backends", async () => {
    await expect(selectBackend("cuda", noAdapter)).rejects.toThrow(
      new UsageError(
        'unknown backend "cuda" (from --backend); the backends are: cpu (available), webgpu (unavailable: no WebGPU adapter (Dawn found no Vulkan driver))',
      ),
    );
  });

  it("ANCHORGRAD_BACKEND is the default, checked the same way", async () => {
    process.env.ANCHORGRAD_BACKEND = "bogus";
    await expect(selectBackend(undefined, noAdapter)).rejects.toThrow(/unknown backend "bogus" \(from ANCHORGRAD_BACKEND\)/);
  });

  it("webgpu without an adapter says why and names npm run setup:webgpu-sw; nothing falls back to cpu", async () => {
    const before = currentBackend();
    const e = await selectBackend("webgpu", noAdapter).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AnchorError);
    expect((e as Error).message).toMatch(
      /^backend webgpu \(from --backend\) is unavailable here: no WebGPU adapter \(Dawn found no Vulkan driver\)\. .*`npm run setup:webgpu-sw`/,
    );
    expect(currentBackend()).toBe(before);
  });

  it("cpu is selected without probing for a GPU", async () => {
    expect(await selectBackend("cpu")).toEqual({ name: "cpu" });
    expect(currentBackend().name).toBe("cpu");
  });

  it("anchorgrad train --backend bogus exits 2 before reading anything", async () => {
    const err = vi.spyOn(console, "error").mockImplementation(() => {});
    expect(await runCli(["train", "--config", "/nonexistent/run.json", "--backend", "bogus"], commands)).toBe(2);
    expect(err.mock.calls[0]![0]).toMatch(
      /^anchorgrad train: unknown backend "bogus" \(from --backend\); the backends are: cpu \(available\), webgpu/,
    );
    err.mockRestore();
  });
});

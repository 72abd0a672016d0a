/**
 * `npm run bench:gpu -- --quick` end to end on whatever adapter is here
 * (lavapipe in CI), in a child process as a user runs it: it must finish,
 * pass its parity suite, and write a results file with every quick matmul
 * row timed for both peers, the tiny DPO step timed, and the 1B step either
 * timed or skipped with its reason. The results file is labelled software
 * on a software adapter. Also the preset the bench's 1B step uses.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { webgpuStatus } from "../../src/backends/webgpu/index.js";
import { adapterSlug } from "../../bench/gpu.js";
import { gate } from "../webgpu/setup.js";

const status = await webgpuStatus();
const action = gate(status.available, process.env);

describe("bench:gpu pieces", () => {
  it("internvl2-1b-2layer is InternVL2-1B with 22 of its 24 Qwen2 decoder layers removed", () => {
    const iv = ag.models.internvl;
    const full = iv.preset("internvl2-1b"),
      two = iv.preset("internvl2-1b-2layer");
    expect(two.text.numLayers).toBe(2);
    expect({ ...two, text: { ...two.text, numLayers: 24 } }).toEqual(full);
    // one Qwen2-0.5B layer: q/o 896², k/v 896×128 (+ q/k/v biases), SwiGLU 3×896×4864, two norms
    const layer = 2 * 896 * 896 + 896 + 2 * (896 * 128 + 128) + 3 * 896 * 4864 + 2 * 896;
    expect(iv.parameterCount(full) - iv.parameterCount(two)).toBe(22 * layer);
    expect(iv.parameterCount(full)).toBe(938_158_976); // the published count (docs/INTERNVL.md)
  });

  it("results files are named after the adapter, software ones as such", () => {
    expect(adapterSlug("llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)", true)).toBe("lavapipe-software");
    expect(adapterSlug("NVIDIA H200", false)).toBe("nvidia-h200");
    expect(adapterSlug("SwiftShader Device", true)).toBe("swiftshader-device-software");
  });
});

(action === "skip" ? describe.skip : describe)("npm run bench:gpu -- --quick", () => {
  it("runs the parity suite, the quick matmul sweep beside jax-js and the DPO steps, and writes the results file", () => {
    if (action === "fail") throw new Error(`no WebGPU adapter (required here): ${status.reason}`);
    const out = mkdtempSync(join(tmpdir(), "bench-gpu-"));
    const t0 = performance.now();
    const r = spawnSync("npm", ["run", "bench:gpu", "--", "--quick", "--out", out], {
      encoding: "utf8",
      env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? "/tmp" },
      timeout: 280_000,
    });
    const log = `${r.stdout}${r.stderr}`;
    expect(r.status, log.slice(-3000)).toBe(0);
    expect(performance.now() - t0).toBeLessThan(240_000);
    expect(log).toMatch(/^adapter: /m);
    expect(log).toMatch(/^limits: \{"maxStorageBufferBindingSize":\d+/m);
    expect(log).toMatch(/parity suite \(test\/webgpu\/parity\.test\.ts\): passed/);
    const files = readdirSync(out);
    expect(files).toHaveLength(1);
    const md = readFileSync(join(out, files[0]!), "utf8");
    const software = (status.info as { architecture?: string } | undefined)?.architecture === "software";
    if (software) {
      expect(files[0]).toMatch(/-software\.md$/);
      expect(md).toMatch(/not a GPU/);
    }
    for (const n of [512, 1024])
      for (const dtype of ["float32", "float16"]) {
        for (const impl of ["jax-js", "anchorgrad"]) {
          const row = md.split("\n").find((l) => l.startsWith(`| ${n} | ${dtype} | ${impl}`));
          expect(row, `${n} ${dtype} ${impl}`).toMatch(/\| \d+\.\d+ \| \d+\.\d \|/);
        }
      }
    // every one of our rows agrees with jax-js's product (float16: to its precision)
    for (const m of md.matchAll(/\| (float32|float16) \| anchorgrad[^|]*\| [\d.]+ \| [\d.]+ \| ([\d.e+-]+) \|/g))
      expect(Number(m[2]), m[0]).toBeLessThan(m[1] === "float32" ? 1e-4 : 3e-3);
    expect(md).toMatch(/\| tiny \| B=2 pairs, T=48 \| [\d,]+ \| \d+ \|/);
    expect(md).toMatch(
      /\| internvl2-1b-2layer \| [^|]+ \| 610,086,528 \|( \d+ \|  \|| {2}\| skipped: quick mode on a software adapter, estimated \d+ min)/,
    );
  });
});

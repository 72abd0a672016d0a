/**
 * The Wasm heap behind cpu buffers: blocks are reused after dispose, and the
 * same float32 program gives the same bits with buffers in the heap and
 * with a heap too small for them (GEMM staging, JS elementwise fallbacks),
 * and agrees to float32 accuracy without Wasm at all (ANCHORGRAD_WASM=0,
 * where the GEMM sums in another order).
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { wasmRuntime } from "../../src/backends/cpu/wasm/runtime.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

function runFixture<T = { hash: number; first: number; gemm: number }>(env: Record<string, string>, fixture = "mixed-ops.ts"): T {
  const r = spawnSync(process.execPath, [join(root, "node_modules/tsx/dist/cli.mjs"), join(root, "test/bench/fixtures", fixture)], {
    cwd: root,
    encoding: "utf8",
    timeout: 120_000,
    env: { ...process.env, ...env },
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as T;
}

describe("wasm heap", () => {
  it("gives a disposed tensor's block to the next buffer of that size", () => {
    const x = ag.randomNormal([200, 300], { seed: 1 });
    const a = ag.exp(x),
      at = (a._buf as Float32Array).byteOffset;
    const taken = wasmRuntime().heap.stats().takenBytes;
    a.dispose();
    expect(wasmRuntime().heap.stats().takenBytes).toBeLessThan(taken);
    const b = ag.neg(x);
    expect((b._buf as Float32Array).byteOffset).toBe(at);
    ag.scope(() => {
      for (let i = 0; i < 20; i++) ag.mul(ag.add(x, i), x);
    });
    expect(wasmRuntime().heap.stats().takenBytes).toBe(taken); // x and b (the a-sized block) are all that is held
  });

  it("a reshape shares its input's block, which goes back only when both are disposed", () => {
    const x = ag.randomNormal([200, 300], { seed: 2 });
    const taken = wasmRuntime().heap.stats().takenBytes;
    const a = ag.exp(x),
      want = [...a.dataSync()];
    const r = ag.reshape(a, [300, 200]);
    expect(r._buf).toBe(a._buf);
    a.dispose();
    expect([...r.dataSync()]).toEqual(want);
    ag.scope(() => {
      for (let i = 0; i < 5; i++) ag.neg(x);
    }); // would reuse a's block, had it gone back
    expect([...r.dataSync()]).toEqual(want);
    expect(wasmRuntime().heap.stats().takenBytes).toBeGreaterThan(taken);
    r.dispose();
    expect(wasmRuntime().heap.stats().takenBytes).toBe(taken);
  });

  it("the same bits with the heap and past its cap; float32-close without Wasm", () => {
    const inHeap = runFixture({});
    const capped = runFixture({ ANCHORGRAD_WASM_HEAP_MB: "0" });
    const noWasm = runFixture({ ANCHORGRAD_WASM: "0" });
    expect(capped).toEqual(inHeap);
    expect(Math.abs(noWasm.gemm - inHeap.gemm)).toBeLessThanOrEqual(1e-4 * Math.abs(inHeap.gemm));
  });

  it("works past 2 GiB, where byte addresses no longer fit a signed i32", () => {
    const r = runFixture<{ high: boolean; worst: number }>({ ANCHORGRAD_WASM_HEAP_MB: "4000" }, "high-addresses.ts");
    expect(r.high).toBe(true);
    expect(r.worst).toBeLessThan(1e-5);
  });
});

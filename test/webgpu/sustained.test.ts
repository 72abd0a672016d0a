/**
 * Sustained use (issue 12, item 3): 20,000 ops of the synchronous
 * loop (no await inside) finish, with live tensors and GPU buffers flat and
 * RSS bounded. Before the fix each dispatch made a bind group whose native
 * memory (~5.5 KB on lavapipe) Node-API frees only when the event loop turns;
 * this loop never turns it, and crashed after 26k-60k ops.
 */
import { expect, it } from "vitest";
import { sustainedLoop, type Sample } from "../../bench/webgpu-sustained.js";
import { describeWebGPU } from "./setup.js";

const gauges = (s: Sample) => {
  const { tensors, bytes, gpu } = s.webgpu;
  return { tensors, bytes, buffers: gpu!.buffers, bufferBytes: gpu!.bufferBytes, bindGroups: gpu!.bindGroups };
};

describeWebGPU("webgpu sustained use", () => {
  it("20,000 ops of a synchronous loop: flat memoryStats, no new GPU buffer or bind group, bounded RSS", { timeout: 120_000 }, async () => {
    const { samples, first } = await sustainedLoop({ ops: 20_000, every: 2_000, size: 64 });
    expect(Number.isFinite(first)).toBe(true);
    const warm = samples.filter((s) => s.ops >= 4_000);
    const [a, z] = [warm[0]!, warm.at(-1)!];
    for (const s of warm) expect(gauges(s), `memoryStats at ${s.ops} ops`).toEqual(gauges(a));
    expect(z.webgpu.gpu!.allocations, "GPU buffers created after warm-up").toBe(a.webgpu.gpu!.allocations);
    expect(z.webgpu.gpu!.bindGroupsCreated, "bind groups created after warm-up").toBe(a.webgpu.gpu!.bindGroupsCreated);
    // 16,000 ops at the old 6-15 KB/op would be 96-240 MB; what remains is work in flight on a slow adapter
    const growth = z.rssBytes - a.rssBytes;
    expect(growth, `RSS grew ${(growth / 2 ** 20).toFixed(1)} MB over ${z.ops - a.ops} ops`).toBeLessThan(40 * 2 ** 20);
  });
});

/**
 * Sustained use (issue 12, item 3): 20,000 ops of the synchronous
 * loop (no await inside) finish, with live tensors and GPU buffers flat and
 * RSS flat. Three things grew RSS in such a loop, each because something is
 * released only when the event loop turns or the GPU catches up:
 * - one bind group per dispatch (~5.5 KB of native memory each on lavapipe,
 *   freed by Node-API only from the event loop): now cached (pipelines.ts);
 * - work queued faster than lavapipe runs it (its submit queue has no limit;
 *   ~650 bytes per queued dispatch): now bounded on a software adapter by
 *   sleeping until its threads are idle (throttle.ts);
 * - a compute pass ended by every copy (~1.7 KB each, freed only from the
 *   event loop): while the event loop is held, small copies run as a shader
 *   inside the pass (runtime.ts).
 * Measured here on lavapipe: RSS slope within ±50 bytes/op with all three,
 * 130-700 bytes/op without the throttle; the bench runs 1,000,000 ops.
 */
import { expect, it } from "vitest";
import { rssSlope, sustainedLoop, type Sample } from "../../bench/webgpu-sustained.js";
import { isSoftwareAdapter } from "../../src/backends/webgpu/device.js";
import { describeWebGPU, gpu } from "./setup.js";

const gauges = (s: Sample) => {
  const { tensors, bytes, gpu } = s.webgpu;
  return { tensors, bytes, buffers: gpu!.buffers, bufferBytes: gpu!.bufferBytes, bindGroups: gpu!.bindGroups };
};

describeWebGPU("webgpu sustained use", () => {
  it("20,000 ops of a synchronous loop: flat memoryStats, no new GPU buffer or bind group, flat RSS", { timeout: 120_000 }, async () => {
    const { samples, first } = await sustainedLoop({ ops: 20_000, every: 2_000, size: 64 });
    expect(Number.isFinite(first)).toBe(true);
    const warm = samples.filter((s) => s.ops >= 4_000);
    const [a, z] = [warm[0]!, warm.at(-1)!];
    for (const s of warm) expect(gauges(s), `memoryStats at ${s.ops} ops`).toEqual(gauges(a));
    expect(z.webgpu.gpu!.allocations, "GPU buffers created after warm-up").toBe(a.webgpu.gpu!.allocations);
    expect(z.webgpu.gpu!.bindGroupsCreated, "bind groups created after warm-up").toBe(a.webgpu.gpu!.bindGroupsCreated);
    if (isSoftwareAdapter(gpu.runtime.handle) && process.platform === "linux") {
      // lavapipe: the queue waited for its threads instead of queueing work without bound
      expect(z.webgpu.gpu!.throttleWaits, "throttle waits after warm-up").toBeGreaterThan(a.webgpu.gpu!.throttleWaits);
    }
    const growth = z.rssBytes - a.rssBytes;
    const slope = rssSlope(warm);
    const where = `RSS grew ${(growth / 2 ** 20).toFixed(1)} MB over ${z.ops - a.ops} ops (${slope.toFixed(0)} bytes/op)`;
    expect(growth, where).toBeLessThan(16 * 2 ** 20);
    expect(slope, where).toBeLessThan(300);
  });
});

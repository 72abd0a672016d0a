/**
 * Bad input and faults (issue 12): a buffer over the binding limit is refused
 * before any dispatch with both sizes; an injected validation error,
 * out-of-memory error or lost device surfaces as a catchable AnchorError that
 * names the kernel; and the counters behind ag.memoryStats().webgpu.gpu.
 */
import { expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { acquireDevice, releaseDevice } from "../../src/backends/webgpu/device.js";
import { Runtime, type Dispatch } from "../../src/backends/webgpu/runtime.js";
import { describeWebGPU, gpu } from "./setup.js";

const counters = () => ag.memoryStats().webgpu!.gpu!;

describeWebGPU("webgpu faults and counters", () => {
  it("refuses a tensor over maxStorageBufferBindingSize before dispatch, giving both sizes", () => {
    const max = gpu.runtime.maxBinding;
    const n = Math.floor(max / 4) + 1;
    const before = counters().dispatches;
    expect(() => ag.broadcastTo(ag.ones([1], { device: "webgpu" }), [n])).toThrow(
      new RegExp(`needs ${n * 4} bytes, more than this device's max\\w+ \\(${max} bytes\\)`),
    );
    expect(counters().dispatches).toBe(before);
  });

  for (const kind of ["validation", "out-of-memory"] as const) {
    it(`an injected ${kind} error rejects the next read, naming the kernel; later work runs`, async () => {
      const x = ag.ones([8], { device: "webgpu" });
      await x.data();
      gpu.runtime.injectFault(kind, "exp");
      const y = ag.exp(x);
      const err = await y.data().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ag.AnchorError);
      expect((err as Error).message).toMatch(
        new RegExp(`kernel "exp".*${kind === "validation" ? "validation error" : "out of memory"}`, "s"),
      );
      expect(Array.from(await ag.add(x, x).data())).toEqual(new Array(8).fill(2));
    });
  }

  it("an injected device loss names the last kernel encoded", async () => {
    const rt = new Runtime(await acquireDevice());
    try {
      const buf = rt.upload(new Float32Array([1, 2, 3, 4]), "a test tensor");
      const copy: Dispatch = {
        name: "testKernel",
        key: "test-copy",
        wgsl: () =>
          "@group(0) @binding(0) var<storage, read_write> x: array<f32>; struct P { n: u32 } @group(0) @binding(1) var<uniform> p: P;" +
          " @compute @workgroup_size(1) fn main() { x[0] = x[0] + f32(p.n); }",
        bindings: [{ buf: buf.buffer, access: "read_write" }],
        params: [1],
        workgroups: 1,
      };
      rt.injectFault("device-lost");
      rt.dispatch(copy);
      await expect(rt.read(buf.buffer, 16)).rejects.toThrow(/device was lost.*after kernel "testKernel"/s);
    } finally {
      rt.release();
      releaseDevice(rt.handle);
    }
  });

  it("counts dispatches, buffer allocations and readbacks; a repeated step allocates no GPU buffer", async () => {
    const w = ag.randomNormal([32, 32], { seed: 3, device: "webgpu" });
    const step = () => ag.scope(() => ag.valueAndGrad((v: ag.Tensor) => ag.sum(ag.tanh(ag.matmul(v, v))))(w)[1]);
    // one round: a step read back, ten more encoded in one batch, a read; the pool's high-water mark is a round's
    const round = async () => {
      const g = step();
      await g.data();
      for (let i = 0; i < 10; i++) step().dispose();
      await g.data();
      g.dispose();
    };
    await round();
    await round();
    const a = { ...counters() };
    const g = step();
    await g.data();
    const b = { ...counters() };
    const perStep = b.dispatches - a.dispatches;
    expect(perStep).toBeGreaterThan(3);
    expect(b.readbacks - a.readbacks).toBe(1);
    for (let i = 0; i < 10; i++) step().dispose();
    await g.data();
    const c = counters();
    expect(c.dispatches - b.dispatches).toBe(10 * perStep);
    expect(c.allocations, "new GPU buffers after warm-up").toBe(a.allocations);
    expect(c.poolHits).toBeGreaterThan(b.poolHits);
    expect(c.bufferBytes).toBe(a.bufferBytes);
    g.dispose();
    w.dispose();
  });
});

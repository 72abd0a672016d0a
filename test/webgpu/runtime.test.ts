/**
 * The runtime around the kernels: batching, pooling and pipeline caching,
 * the errors (sync reads, float64, out-of-range indices, validation errors
 * named per kernel in debug mode, a lost device), status for `doctor`, lazy
 * loading of Dawn, and a process that exits after releasing the backend.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { acquireDevice, releaseDevice } from "../../src/backends/webgpu/device.js";
import { Runtime, sizeClass, type Dispatch } from "../../src/backends/webgpu/runtime.js";
import { webgpuStatus } from "../../src/backends/webgpu/index.js";
import { doctor } from "../../src/cli/commands/doctor.js";
import { describeWebGPU, gate, gpu } from "./setup.js";

/** A kernel whose WGSL does not compile. */
const broken: Dispatch = {
  name: "bogusKernel",
  key: "bogus",
  wgsl: () => "fn main() { let x: u32 = 1.5; }",
  bindings: [],
  params: [],
  workgroups: 1,
};

/** A fresh runtime on its own device, with ANCHORGRAD_DEBUG_GPU as given. */
async function isolatedRuntime(debug: boolean): Promise<Runtime> {
  const prev = process.env.ANCHORGRAD_DEBUG_GPU;
  process.env.ANCHORGRAD_DEBUG_GPU = debug ? "1" : "0";
  try {
    return new Runtime(await acquireDevice());
  } finally {
    if (prev === undefined) delete process.env.ANCHORGRAD_DEBUG_GPU;
    else process.env.ANCHORGRAD_DEBUG_GPU = prev;
  }
}

describeWebGPU("webgpu runtime", () => {
  it("encodes kernels in one batch and submits once per read", async () => {
    const x = ag.randomNormal([64], { seed: 1, device: "webgpu" });
    await x.data();
    const { submits, dispatches } = { ...gpu.runtime.stats };
    const y = ag.scope(() => ag.sum(ag.tanh(ag.mul(ag.exp(x), ag.sin(x)))));
    const [a, b] = await Promise.all([y.data(), x.data()]);
    expect(gpu.runtime.stats.dispatches - dispatches).toBe(5);
    expect(gpu.runtime.stats.submits - submits).toBe(1); // two reads, one submit
    expect(a.length + b.length).toBe(65);
  });

  it("reuses pooled buffers by size class and caches pipelines", async () => {
    expect(sizeClass(1)).toBe(256);
    expect(sizeClass(257)).toBe(384);
    expect(sizeClass(385)).toBe(512);
    expect(sizeClass(3000)).toBe(3072);
    const x = ag.randomNormal([1000], { seed: 2, device: "webgpu" });
    const run = () => ag.scope(() => ag.sum(ag.exp(ag.neg(x))));
    await run().data();
    const { bufferBytes, pipelines } = { ...gpu.runtime.stats };
    for (let i = 0; i < 20; i++) run().dispose();
    await run().data();
    expect(gpu.runtime.stats.bufferBytes).toBe(bufferBytes);
    expect(gpu.runtime.stats.pipelines).toBe(pipelines);
  });

  it("refuses synchronous reads with a pointer to await t.data()", () => {
    const x = ag.ones([2], { device: "webgpu" });
    expect(() => x.dataSync()).toThrow(/await t\.data\(\)/);
    expect(() => ag.sum(x).item()).toThrow(/await t\.data\(\)/);
  });

  it("refuses float64 with an error naming the op and the dtype", () => {
    expect(() => ag.tensor(new Float64Array([1, 2]), { device: "webgpu" })).toThrow(/float64 is not supported on webgpu/);
    const x = ag.ones([2], { device: "webgpu" });
    expect(() => ag.cast(x, "float64")).toThrow(/cast: float64 is not supported on webgpu/);
  });

  it("computes float16 and bfloat16 storage in float32, rounding like the cpu", async () => {
    const vals = [0, -0, 1 / 3, -2.5e-6, 6e-8, 65519, 65520, 1e5, -Infinity, NaN, 3.14159, -1.0009765625];
    for (const dtype of ["float16", "bfloat16"] as const) {
      const cpu = ag.tensor(vals, { dtype, device: "cpu" });
      const g = ag.tensor(vals, { dtype, device: "webgpu" });
      expect(Array.from(await g.data())).toEqual(Array.from(await cpu.data()));
      const round = ag.cast(ag.cast(ag.tensor(vals, { device: "webgpu" }), dtype), "float32");
      expect(Array.from(await round.data())).toEqual(Array.from(await cpu.data()));
      const sum = ag.add(g, g); // computed in float32, rounded back to the storage format
      expect(sum.dtype).toBe(dtype);
      expect(Array.from(await sum.data())).toEqual(Array.from(await ag.add(cpu, cpu).data()));
    }
  });

  it("reports an out-of-range gather index at the next read, naming the op, index and axis size", async () => {
    const x = ag.ones([3, 4], { device: "webgpu" });
    const bad = ag.gather(x, ag.tensor([1, 7], { dtype: "int32", device: "webgpu" }), 1);
    await expect(bad.data()).rejects.toThrow(/gather: index 7 at position 1 is out of range for an axis of size 4/);
    const neg = ag.scatterAdd(ag.ones([2], { device: "webgpu" }), ag.tensor([0, -1], { dtype: "int32", device: "webgpu" }), 0, [3]);
    await expect(neg.data()).rejects.toThrow(/scatterAdd: index -1 at position 1/);
    expect(await ag.sum(x).data()).toEqual(new Float32Array([12])); // the flag was cleared
  });

  it("names the failing kernel, alone with ANCHORGRAD_DEBUG_GPU=1 and in its batch otherwise", async () => {
    for (const debug of [true, false]) {
      const rt = await isolatedRuntime(debug);
      try {
        rt.dispatch(broken);
        await expect(rt.sync()).rejects.toThrow(
          debug ? /error in kernel "bogusKernel": validation error/ : /kernel "bogusKernel".*ANCHORGRAD_DEBUG_GPU=1/s,
        );
      } finally {
        rt.release();
        releaseDevice(rt.handle);
      }
    }
  });

  it("turns a lost device into a clear error, also for a read already waiting", async () => {
    const rt = await isolatedRuntime(false);
    const buf = rt.upload(new Float32Array([1, 2, 3]), "a test tensor");
    const pending = rt.read(buf.buffer, 12);
    rt.handle.device.destroy();
    await expect(
      Promise.race([
        pending.then(
          () => "resolved",
          (e: Error) => e.message,
        ),
        new Promise((r) => setTimeout(() => r("hang"), 10_000)),
      ]),
    ).resolves.not.toBe("hang");
    await rt.handle.lost;
    expect(() => rt.upload(new Float32Array([1]), "x")).toThrow(/device was lost/);
    await expect(Promise.resolve().then(() => rt.read(buf.buffer, 12))).rejects.toThrow(/device was lost/);
    rt.release();
    releaseDevice(rt.handle);
  });

  it("selects the adapter named by ANCHORGRAD_ADAPTER, and says which exist when none matches", async () => {
    const name = String((await webgpuStatus()).info!.adapter);
    const prev = process.env.ANCHORGRAD_ADAPTER;
    try {
      process.env.ANCHORGRAD_ADAPTER = "no-such-gpu";
      await expect(acquireDevice()).rejects.toThrow(
        new RegExp(`ANCHORGRAD_ADAPTER="no-such-gpu" matches none of the adapters here: .*${name.slice(0, 8)}`),
      );
      process.env.ANCHORGRAD_ADAPTER = name.slice(0, 8).toUpperCase();
      const h = await acquireDevice();
      expect(h.adapterName).toBe(name);
      releaseDevice(h);
    } finally {
      if (prev === undefined) delete process.env.ANCHORGRAD_ADAPTER;
      else process.env.ANCHORGRAD_ADAPTER = prev;
    }
  });

  it("reports adapter name, limits and features for doctor", async () => {
    const s = await webgpuStatus();
    expect(s.available).toBe(true);
    expect(typeof s.info!.adapter).toBe("string");
    expect((s.info!.limits as Record<string, number>).maxStorageBufferBindingSize).toBeGreaterThan(0);
    expect(Array.isArray(s.info!.features)).toBe(true);
    const lines: string[] = [];
    const log = console.log;
    console.log = (...a: unknown[]) => lines.push(a.join(" "));
    try {
      await doctor.run([]);
    } finally {
      console.log = log;
    }
    const text = lines.join("\n");
    expect(text).toMatch(/backend webgpu: available/);
    expect(text).toContain(String(s.info!.adapter));
    expect(text).toMatch(/maxStorageBufferBindingSize/);
  });

  it("without an adapter: status gives the reason and the fix; suites skip, or fail under CI", () => {
    const script = fileURLToPath(new URL("./child-status.mts", import.meta.url));
    const r = spawnSync(process.execPath, ["--import", "tsx", script], {
      encoding: "utf8",
      timeout: 60_000,
      env: { ...process.env, VK_ICD_FILENAMES: "/nonexistent/icd.json", ANCHORGRAD_BACKEND: "" },
    });
    expect(r.status, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout.trim().split("\n").pop()!);
    expect(s).toMatchObject({ name: "webgpu", available: false });
    expect(s.reason).toMatch(/npm run setup:webgpu-sw/);
    expect(gate(false, {})).toBe("skip");
    expect(gate(false, { CI: "true" })).toBe("fail");
    expect(gate(false, { ANCHORGRAD_REQUIRE_WEBGPU: "1" })).toBe("fail");
    expect(gate(true, { CI: "true" })).toBe("run");
  });

  it("loads Dawn only when webgpu is used, honours ANCHORGRAD_BACKEND, and lets the process exit", () => {
    const script = fileURLToPath(new URL("./child-exit.mts", import.meta.url));
    const r = spawnSync(process.execPath, ["--import", "tsx", script], {
      encoding: "utf8",
      timeout: 60_000,
      env: { ...process.env, ANCHORGRAD_BACKEND: "webgpu" },
    });
    expect(r.signal, `the child did not exit by itself: ${r.stderr}`).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split("\n").pop()!);
    expect(out).toMatchObject({ before: false, afterCpu: false, backend: "webgpu", value: 6, current: "cpu" });
  });

  it("recovers from a lost device through useBackend (last: it replaces the suite's device)", async () => {
    const x = ag.ones([3], { device: "webgpu" });
    gpu.handle.device.destroy();
    await gpu.handle.lost;
    expect(() => ag.exp(x)).toThrow(/device was lost.*useBackend\("webgpu"\)/);
    await expect(x.data()).rejects.toThrow(/device was lost/);
    const fresh = await ag.useBackend("webgpu");
    expect(fresh).not.toBe(gpu);
    expect(await ag.sum(ag.ones([3])).data()).toEqual(new Float32Array([3]));
  });
});

/**
 * The webgpu backend: WGSL kernels for every primitive on a Dawn device.
 *
 * Loaded lazily by the registry (`await ag.useBackend("webgpu")` or
 * ANCHORGRAD_BACKEND=webgpu). Each load makes a new backend object around a
 * new device, so tensors of a released backend fail with a clear error
 * instead of touching a destroyed device. `releaseWebGPU()` (or the
 * registry's `releaseBackend("webgpu")`) destroys the device and lets the
 * process exit.
 *
 * `run` only encodes work; it is submitted at the next read (`await
 * t.data()`). There is no synchronous read: WebGPU maps buffers asynchronously.
 */
import type { Backend, BackendStatus, OutSpec } from "../backend.js";
import { BINARY, UNARY, kernelPrimitives, type BinaryName, type KernelPrim, type ParamsOf, type UnaryName } from "../../prims/index.js";
import type { DType, StorageArray } from "../../tensor/dtype.js";
import { AnchorError } from "../../tensor/errors.js";
import { sizeOf } from "../../tensor/shape.js";
import { acquireDevice, probeAdapter, releaseDevice, statusInfo, type DeviceHandle } from "./device.js";
import { Runtime, type GpuBuffer } from "./runtime.js";
import { deviceBytes, storageType } from "./wgsl.js";
import type { GpuKernel, GpuRef } from "./kernels/types.js";
import { binaryKernel, unaryKernel, where } from "./kernels/elementwise.js";
import { cast } from "./kernels/cast.js";
import { broadcastTo, concat, pad, reshape, slice, transpose } from "./kernels/layout.js";
import { argmax, max, sum } from "./kernels/reduce.js";
import { gather, scatterAdd } from "./kernels/indexing.js";
import { runFused } from "./kernels/fused.js";
import { matmul, matmulWith } from "./kernels/matmul.js";
import { layerNorm, logSoftmax, logsumexp, normGrad, rmsNorm, softmax, softmaxGrad } from "./kernels/rows.js";

/** One kernel per primitive; the elementwise ones are built from the pointwise rows. */
export const webgpuKernels: { readonly [P in KernelPrim]: GpuKernel<P> } = {
  ...(Object.fromEntries(UNARY.map((r) => [r.name, unaryKernel(r)])) as { [N in UnaryName]: GpuKernel<N> }),
  ...(Object.fromEntries(BINARY.map((r) => [r.name, binaryKernel(r)])) as { [N in BinaryName]: GpuKernel<N> }),
  where,
  cast,
  sum,
  max,
  argmax,
  reshape,
  transpose,
  broadcastTo,
  slice,
  pad,
  concat,
  gather,
  scatterAdd,
  matmul,
  logsumexp,
  softmax,
  softmaxGrad,
  logSoftmax,
  layerNorm,
  rmsNorm,
  normGrad,
};

/** Host storage -> device words: bool as one u32 per element, everything else as is. */
function toDevice(values: StorageArray, dtype: DType): ArrayBufferView {
  return dtype === "bool" ? Uint32Array.from(values as Uint8Array) : values;
}

function fromDevice(bytes: ArrayBuffer, dtype: DType, size: number): StorageArray {
  switch (dtype) {
    case "float32":
      return new Float32Array(bytes, 0, size);
    case "int32":
      return new Int32Array(bytes, 0, size);
    case "bool":
      return Uint8Array.from(new Uint32Array(bytes, 0, size));
    case "float16":
    case "bfloat16":
      return new Uint16Array(bytes, 0, size);
    case "float64":
      throw new AnchorError("webgpu: float64 buffers cannot exist on this backend");
  }
}

export type WebGPUBackend = Backend<GpuBuffer> & {
  readonly runtime: Runtime;
  readonly handle: DeviceHandle;
  /** GPU buffers, pool bytes and dispatch/allocation/readback counters, for ag.memoryStats(). */
  deviceStats(): Record<string, number>;
  /** Wait for all submitted work, surfacing device errors. */
  sync(): Promise<void>;
};

function makeBackend(handle: DeviceHandle): WebGPUBackend {
  const rt = new Runtime(handle);
  return {
    name: "webgpu",
    runtime: rt,
    handle,
    upload(values, dtype) {
      storageType(dtype, "tensor upload"); // refuses float64 by name
      return rt.upload(toDevice(values, dtype), `a ${dtype} tensor of ${values.length} elements`);
    },
    async read(buf, dtype, size) {
      const bytes = await rt.read(buf.buffer, deviceBytes(dtype, size, "read"));
      return fromDevice(bytes, dtype, size);
    },
    readSync() {
      throw new AnchorError(
        "webgpu tensors cannot be read synchronously (WebGPU maps buffers asynchronously): use `await t.data()` or `await t.array()` instead of dataSync()/item()/arraySync()",
      );
    },
    free(buf) {
      rt.free(buf);
    },
    run<P extends KernelPrim>(prim: P, inputs: readonly GpuRef[], params: ParamsOf<P>, out: OutSpec) {
      rt.assertAlive();
      const k = webgpuKernels[prim] as GpuKernel<P> | undefined;
      if (!k) throw new AnchorError(`webgpu backend has no kernel for primitive "${prim}"`);
      for (const x of [...inputs, out]) storageType(x.dtype, prim); // refuses float64, naming the op
      if (sizeOf(out.shape) === 0) return rt.alloc(4, `the empty output of ${prim}`);
      return k(rt, inputs, params, out);
    },
    kernelNames: () => Object.keys(webgpuKernels),
    // the tiled matmul reads 16-bit storage and accumulates in f32 (kernels/matmul-tiled.ts)
    takesHalf: (prim) => prim === "matmul",
    runPointwise: (program, inputs) => {
      rt.assertAlive();
      return sizeOf(program.shape) === 0 ? null : runFused(rt, program, inputs);
    },
    runMatmulEpilogue: (a, b, params, epilogue, out) => {
      rt.assertAlive();
      return sizeOf(out.shape) === 0 ? null : matmulWith(rt, a, b, params, out, epilogue);
    },
    deviceStats: () => ({ ...rt.stats }),
    sync: () => rt.sync(),
  };
}

let live: WebGPUBackend | null = null;

/** Start a device and return a backend on it (the registry calls this once per useBackend). */
export async function loadWebGPU(): Promise<WebGPUBackend> {
  if (live?.runtime.isAlive) return live;
  releaseWebGPU(); // a lost device
  const missing = kernelPrimitives().filter((p) => !(p in webgpuKernels));
  if (missing.length) throw new AnchorError(`webgpu backend lacks kernels for: ${missing.join(", ")}`);
  live = makeBackend(await acquireDevice());
  return live;
}

/** Whether the loaded backend's device still works. */
export const webgpuIsLive = (): boolean => live?.runtime.isAlive ?? false;

/** Destroy the device (tensors on it become unusable) so the process can exit. */
export function releaseWebGPU(): void {
  if (!live) return;
  live.runtime.release();
  releaseDevice(live.handle);
  live = null;
}

/** Adapter name, limits and features, or why there is none. */
export async function webgpuStatus(): Promise<BackendStatus> {
  if (live?.runtime.isAlive) {
    return { name: "webgpu", available: true, info: { ...statusInfo(live.handle), gpu: { ...live.runtime.stats } } };
  }
  return { name: "webgpu", ...(await probeAdapter()) };
}

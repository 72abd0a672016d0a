/** The shape of a WebGPU kernel: like the backend contract's Kernel, plus the runtime. */
import type { BufferRef, OutSpec } from "../../backend.js";
import type { GpuBuffer, Runtime } from "../runtime.js";

export type GpuRef = BufferRef<GpuBuffer>;

export type GpuKernel = (rt: Runtime, inputs: readonly GpuRef[], params: any, out: OutSpec) => GpuBuffer;

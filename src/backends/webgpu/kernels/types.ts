/** The shape of a WebGPU kernel: like the backend contract's Kernel, plus the runtime. */
import type { KernelPrim, ParamsOf } from "../../../prims/index.js";
import type { BufferRef, OutSpec } from "../../backend.js";
import type { GpuBuffer, Runtime } from "../runtime.js";

export type GpuRef = BufferRef<GpuBuffer>;

/** The WebGPU kernel of primitive N. */
export type GpuKernel<N extends KernelPrim> = (rt: Runtime, inputs: readonly GpuRef[], params: ParamsOf<N>, out: OutSpec) => GpuBuffer;

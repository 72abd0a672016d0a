/**
 * Which backend new tensors go to. cpu is always there; webgpu is loaded on
 * demand so that processes which never use it never touch Dawn.
 */
import type { Backend, BackendStatus } from "./backend.js";
import { cpuBackend } from "./cpu/index.js";
import { defaultThreadCount } from "./cpu/wasm/threads.js";
import { wasmEnabled } from "./cpu/wasm/runtime.js";
import { gemmInfo } from "./cpu/matmul.js";

const cpuKernelInfo = (): string =>
  wasmEnabled
    ? `WebAssembly SIMD on ${defaultThreadCount()} threads (GEMM, elementwise, rows), typed arrays elsewhere`
    : "typed arrays (WebAssembly off: ANCHORGRAD_WASM=0 or no SIMD)";
import { AnchorError } from "../tensor/errors.js";
import { memoryStats as liveTensors } from "../tensor/memory.js";

export type BackendName = "cpu" | "webgpu";

interface Loader {
  load(): Promise<Backend>;
  status(): Promise<BackendStatus>;
  /** Free what load() acquired (a GPU device), so the process can exit. */
  release?(): Promise<void>;
  /** false once the loaded backend can no longer run (a lost GPU device): useBackend then loads afresh. */
  isLive?(): Promise<boolean>;
}

const loaders = new Map<string, Loader>([
  [
    "cpu",
    {
      load: async () => cpuBackend,
      status: async () => ({ name: "cpu", available: true, info: { kernels: cpuKernelInfo(), gemm: gemmInfo() } }),
    },
  ],
]);
const loaded = new Map<string, Backend>([["cpu", cpuBackend]]);
let current: Backend = cpuBackend;

// webgpu loads Dawn only when used: this module imports nothing of it up front.
const webgpuModule = () => import("./webgpu/index.js");
loaders.set("webgpu", {
  load: async () => (await webgpuModule()).loadWebGPU(),
  status: async () => (await webgpuModule()).webgpuStatus(),
  release: async () => (await webgpuModule()).releaseWebGPU(),
  isLive: async () => (await webgpuModule()).webgpuIsLive(),
});

/** Register a lazily loaded backend (webgpu registers itself this way). */
export function registerBackend(name: string, loader: Loader): void {
  loaders.set(name, loader);
}

export function currentBackend(): Backend {
  return current;
}

export function getBackend(name: string): Backend {
  const b = loaded.get(name);
  if (!b) throw new AnchorError(`backend "${name}" is not initialised; call await ag.useBackend("${name}") first`);
  return b;
}

/** Make `name` the default device for new tensors. */
export async function useBackend(name: BackendName | string): Promise<Backend> {
  const loader = loaders.get(name);
  if (!loader) throw new AnchorError(`unknown backend "${name}"; known: ${[...loaders.keys()].join(", ")}`);
  let b = loaded.get(name);
  if (b && loader.isLive && !(await loader.isLive())) {
    await loader.release?.();
    loaded.delete(name);
    b = undefined;
  }
  if (!b) {
    b = await loader.load();
    loaded.set(name, b);
  }
  current = b;
  return b;
}

/**
 * Release a loaded backend's resources (webgpu: destroy the device). Its
 * tensors become unusable; new tensors go to cpu if it was the default.
 * A later useBackend(name) starts it afresh.
 */
export async function releaseBackend(name: string): Promise<void> {
  const b = loaded.get(name);
  if (!b || name === "cpu") return;
  loaded.delete(name);
  if (current === b) current = cpuBackend;
  await loaders.get(name)?.release?.();
}

/** What is available on this machine, and why not where it is not. */
export async function backends(): Promise<BackendStatus[]> {
  return Promise.all([...loaders.values()].map((l) => l.status()));
}

/** Honour ANCHORGRAD_BACKEND at start-up (scripts call this once). */
export async function useBackendFromEnv(): Promise<Backend> {
  const name = process.env.ANCHORGRAD_BACKEND;
  return name ? useBackend(name) : current;
}

/** A backend that reports device-side figures (webgpu: GPU buffers, pool, counters). */
type ReportsDevice = Backend & { deviceStats?(): Record<string, number> };

/** Live tensors and bytes per device, plus what each loaded backend reports of its device. */
export interface DeviceMemory {
  tensors: number;
  bytes: number;
  /**
   * Where the backend reports it (webgpu): GPU buffers alive, their bytes
   * and the pool's free bytes (flat in a steady loop), and counters since the
   * device started: dispatches, allocations (new GPU buffers), poolHits,
   * readbacks, submits.
   */
  gpu?: Record<string, number>;
}

/**
 * `ag.memoryStats()`: live tensors and bytes per device (see tensor/memory.ts),
 * with a `gpu` record for backends that have one.
 */
export function memoryStats(): Record<string, DeviceMemory> {
  const out: Record<string, DeviceMemory> = liveTensors();
  for (const [name, b] of loaded) {
    const gpu = (b as ReportsDevice).deviceStats?.();
    if (gpu) out[name] = { ...(out[name] ?? { tensors: 0, bytes: 0 }), gpu };
  }
  return out;
}

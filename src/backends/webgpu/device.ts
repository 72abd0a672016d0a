/**
 * Finding a WebGPU device through Dawn (the `webgpu` npm package).
 *
 * Dawn is imported only here and only on demand, so processes that never use
 * the webgpu backend never load dawn.node. The `create()` object is held only
 * while a device is in use: `releaseDevice` drops it, which lets Node exit.
 */
import { AnchorError } from "../../tensor/errors.js";

export const SETUP_HINT = "no WebGPU adapter; for a software one (Mesa lavapipe) run `npm run setup:webgpu-sw` (needs root)";

/** The limits the backend reads; requested at the adapter's own maxima. */
const WANTED_LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
  "minUniformBufferOffsetAlignment",
] as const;

export type LimitName = (typeof WANTED_LIMITS)[number];

export interface DeviceHandle {
  readonly device: GPUDevice;
  readonly adapterName: string;
  readonly info: Record<string, unknown>;
  readonly limits: Record<LimitName, number>;
  readonly features: readonly string[];
  /** Resolves with the reason when the device is lost (including on release). */
  readonly lost: Promise<string>;
}

/**
 * A software adapter (lavapipe, SwiftShader) runs workgroups as CPU threads
 * and invocations as SIMD lanes: barriers are context switches, so kernels
 * pick shapes with fewer of them there.
 */
export const isSoftwareAdapter = (h: DeviceHandle): boolean =>
  h.info.architecture === "software" || /llvmpipe|swiftshader/i.test(h.adapterName);

interface Dawn {
  gpu: GPU;
}

let dawn: Dawn | null = null;
/**
 * The GPU object last dropped, until the collector takes it: a device
 * acquired again before then (useBackend after a lost device) reuses it.
 * A second GPU object made while the first is still being torn down crashed
 * the process natively, now and then, under load.
 */
let dropped: WeakRef<Dawn> | null = null;
/** Devices acquired and not yet released; Dawn's GPU object is dropped when none is left. */
const liveHandles = new Set<DeviceHandle>();

async function loadDawn(): Promise<Dawn> {
  dawn ??= dropped?.deref() ?? null;
  if (dawn) return dawn;
  // Mesa warns on stderr when XDG_RUNTIME_DIR is unset; a harmless default silences it.
  process.env.XDG_RUNTIME_DIR ??= "/tmp";
  let mod: { create(opts: string[]): GPU; globals: object };
  try {
    mod = (await import("webgpu")) as typeof mod;
  } catch (e) {
    throw new AnchorError(`webgpu: cannot load the "webgpu" package (dawn.node): ${(e as Error).message}`);
  }
  // GPUBufferUsage, GPUMapMode, ... are globals in browsers; Dawn exports them.
  for (const [k, v] of Object.entries(mod.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  dawn = { gpu: mod.create([]) };
  return dawn;
}

function describeAdapter(a: GPUAdapter): { name: string; info: Record<string, unknown> } {
  const i = a.info;
  const name = i.description || i.device || i.vendor || "unknown adapter";
  return { name, info: { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description } };
}

/**
 * Pick an adapter. ANCHORGRAD_ADAPTER selects by a case-insensitive substring
 * of its description/vendor/architecture; without it, the high-performance one.
 */
async function pickAdapter(gpu: GPU): Promise<GPUAdapter> {
  const want = process.env.ANCHORGRAD_ADAPTER?.toLowerCase();
  const candidates: GPUAdapter[] = [];
  for (const powerPreference of ["high-performance", "low-power"] as const) {
    const a = await gpu.requestAdapter({ powerPreference });
    if (a) candidates.push(a);
  }
  const fallback = await gpu.requestAdapter({ forceFallbackAdapter: true }).catch(() => null);
  if (fallback) candidates.push(fallback);
  if (candidates.length === 0) throw new AnchorError(`webgpu: ${SETUP_HINT}`);
  if (!want) return candidates[0]!;
  const hit = candidates.find((a) => {
    const i = a.info;
    return [i.description, i.vendor, i.architecture, i.device].some((s) => s?.toLowerCase().includes(want));
  });
  if (!hit) {
    const names = [...new Set(candidates.map((a) => describeAdapter(a).name))].join("; ");
    throw new AnchorError(`webgpu: ANCHORGRAD_ADAPTER="${process.env.ANCHORGRAD_ADAPTER}" matches none of the adapters here: ${names}`);
  }
  return hit;
}

/** Request a device with the adapter's own limits and shader-f16 where it exists. */
export async function acquireDevice(): Promise<DeviceHandle> {
  const { gpu } = await loadDawn();
  const adapter = await pickAdapter(gpu);
  const requiredLimits: Record<string, number> = {};
  for (const k of WANTED_LIMITS) requiredLimits[k] = adapter.limits[k];
  const features: GPUFeatureName[] = adapter.features.has("shader-f16") ? ["shader-f16"] : [];
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures: features });
  const limits = {} as Record<LimitName, number>;
  for (const k of WANTED_LIMITS) limits[k] = device.limits[k];
  const { name, info } = describeAdapter(adapter);
  const lost = device.lost.then((l) => `${l.reason}: ${l.message}`);
  const handle: DeviceHandle = { device, adapterName: name, info, limits, features: [...device.features].sort(), lost };
  liveHandles.add(handle);
  return handle;
}

/** Destroy the device; with no device left, drop Dawn's GPU object so the process can exit. */
export function releaseDevice(h: DeviceHandle | null): void {
  if (h && liveHandles.delete(h)) h.device.destroy();
  if (liveHandles.size === 0 && dawn) {
    dropped = new WeakRef(dawn);
    dawn = null;
  }
}

/** Adapter name, limits and features, without keeping anything alive. */
export async function probeAdapter(): Promise<{ available: boolean; reason?: string; info?: Record<string, unknown> }> {
  let h: DeviceHandle | null = null;
  try {
    h = await acquireDevice();
    return { available: true, info: statusInfo(h) };
  } catch (e) {
    return { available: false, reason: (e as Error).message.replace(/^webgpu: /, "") };
  } finally {
    releaseDevice(h);
  }
}

export function statusInfo(h: DeviceHandle): Record<string, unknown> {
  return {
    adapter: h.adapterName,
    ...h.info,
    limits: h.limits,
    features: h.features,
    dtypes: "float32, int32, bool; float16/bfloat16 stored as 16 bits and computed in float32; no float64 (WGSL has none)",
  };
}

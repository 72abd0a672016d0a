/**
 * The WebGPU runtime under the kernels: buffers, pipelines, command batching,
 * readback and error reporting.
 *
 * - Buffers come from a pool keyed by size class (powers of two and the 3/4
 *   points between them). A buffer freed while its last use is still being
 *   encoded may be reused by later work of the same batch (the encoder
 *   orders it). `queue.writeBuffer` runs ahead of the unsubmitted batch, so
 *   small uploads are written into a staging arena and copied in order;
 *   large ones go straight into a buffer freed before the last submit.
 * - Pipelines are cached by shader key and bind-group layout.
 * - Kernels are encoded into one command encoder and submitted once per sync
 *   point (a read), or when the batch grows large.
 * - Reads copy into pooled MAP_READ staging buffers; all reads requested in
 *   the same tick share one submit.
 * - Kernel parameters (shapes, strides) live in a uniform arena, one aligned
 *   slot per dispatch, rewritten only after the batch that used it was submitted.
 * - Errors surface as AnchorErrors at the next sync point: device loss (never
 *   a hang: every wait races the lost promise), uncaptured validation errors,
 *   out-of-range indices flagged by gather/scatterAdd, and, with
 *   ANCHORGRAD_DEBUG_GPU=1, validation errors captured per kernel with error
 *   scopes and rethrown with the kernel's name.
 */
import { AnchorError } from "../../tensor/errors.js";
import type { DeviceHandle } from "./device.js";

/** A pooled storage buffer; `bytes` is its size class, not the tensor's size. */
export interface GpuBuffer {
  readonly buffer: GPUBuffer;
  readonly bytes: number;
}

export type Access = "read" | "read_write";

export interface Binding {
  readonly buf: GPUBuffer;
  readonly access: Access;
}

/** One kernel launch. Bindings are @binding(0..n-1); the uniform params are @binding(n). */
export interface Dispatch {
  /** Kernel name for error messages (usually the primitive). */
  readonly name: string;
  /** Identifies the WGSL source; equal keys must mean equal code. */
  readonly key: string;
  readonly wgsl: () => string;
  readonly bindings: readonly Binding[];
  /** u32 words (use f32Bits for floats); may be empty. */
  readonly params: readonly number[];
  /** Workgroup count: a total (tiled over x and y past the per-dimension limit) or an explicit grid. */
  readonly workgroups: number | readonly [number, number, number];
}

const MIN_CLASS = 256;
const ARENA_BYTES = 1 << 16;
const UPLOAD_ARENA_BYTES = 1 << 18;
const MAX_BATCH = 512;
const POOL_CAP_BYTES = 1 << 30;

/** Size class: the smallest of 2^k and 3·2^(k-2) that holds `bytes`. */
export function sizeClass(bytes: number): number {
  if (bytes <= MIN_CLASS) return MIN_CLASS;
  const p = 2 ** Math.ceil(Math.log2(bytes));
  return bytes <= p * 0.75 ? p * 0.75 : p;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** The bit pattern of a float32, for passing floats as u32 params. */
export function f32Bits(x: number): number {
  f32[0] = x;
  return u32[0]!;
}

function padTo4(data: ArrayBufferView, bytes: number): Uint8Array {
  const padded = new Uint8Array(bytes);
  padded.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return padded;
}

/** Index-error codes written by kernels into the error flag buffer. */
export const INDEX_ERROR_OPS = ["", "gather", "scatterAdd"] as const;

interface PendingRead {
  src: GPUBuffer;
  bytes: number;
  staging: GPUBuffer;
  stagingClass: number;
  resolve(b: ArrayBuffer): void;
  reject(e: unknown): void;
}

export interface RuntimeStats {
  /** Bytes in GPU buffers the pool created and has not destroyed (live + pooled). */
  allocatedBytes: number;
  /** Bytes sitting free in the pool. */
  pooledBytes: number;
  pipelines: number;
  submits: number;
  dispatches: number;
}

export class Runtime {
  readonly device: GPUDevice;
  readonly limits: DeviceHandle["limits"];
  readonly debug = process.env.ANCHORGRAD_DEBUG_GPU === "1";

  private readonly clean = new Map<number, GPUBuffer[]>();
  /** Freed since the last submit: reusable by encoded work only. */
  private dirty = new Map<number, GPUBuffer[]>();
  private readonly staging = new Map<number, GPUBuffer[]>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly layouts = new Map<string, GPUBindGroupLayout>();

  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private batched = 0;
  private arena: GPUBuffer;
  private arenaOffset = 0;
  private uploadArena: GPUBuffer;
  private uploadOffset = 0;
  private reads: PendingRead[] = [];
  private flushScheduled = false;

  /** Kernels may flag out-of-range indices here: [op code, position, index, axis size]. */
  readonly errorFlag: GPUBuffer;
  private indexKernelsSinceCheck = false;
  private uncaptured: string[] = [];
  private scoped: Promise<string | null>[] = [];
  private lostReason: string | null = null;
  private released = false;

  readonly stats: RuntimeStats = { allocatedBytes: 0, pooledBytes: 0, pipelines: 0, submits: 0, dispatches: 0 };

  constructor(readonly handle: DeviceHandle) {
    this.device = handle.device;
    this.limits = handle.limits;
    this.device.onuncapturederror = (ev) => {
      this.uncaptured.push(ev.error.message);
    };
    void handle.lost.then((reason) => {
      this.lostReason = this.released ? "the backend was released" : reason;
    });
    this.arena = this.device.createBuffer({ size: ARENA_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.uploadArena = this.device.createBuffer({ size: UPLOAD_ARENA_BYTES, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    this.errorFlag = this.device.createBuffer({
      size: 16,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
  }

  // --- buffers ------------------------------------------------------------

  /** The largest tensor a kernel may bind, in bytes. */
  get maxBinding(): number {
    return Math.min(this.limits.maxStorageBufferBindingSize, this.limits.maxBufferSize);
  }

  /** A storage buffer of at least `bytes`; `forUpload` excludes buffers still used by unsubmitted work. */
  alloc(bytes: number, what: string, forUpload = false): GpuBuffer {
    this.assertAlive();
    if (bytes > this.maxBinding) {
      const limit = this.limits.maxBufferSize < this.limits.maxStorageBufferBindingSize ? "maxBufferSize" : "maxStorageBufferBindingSize";
      throw new AnchorError(
        `webgpu: ${what} needs ${bytes} bytes, more than this device's ${limit} (${this.maxBinding} bytes); split it into smaller tensors or use the cpu backend`,
      );
    }
    const cls = Math.min(sizeClass(bytes), this.maxBinding - (this.maxBinding % 4));
    const recent = forUpload ? undefined : this.dirty.get(cls)?.pop();
    if (recent) return { buffer: recent, bytes: cls };
    const free = this.clean.get(cls);
    const reused = free?.pop();
    if (reused) {
      this.stats.pooledBytes -= cls;
      return { buffer: reused, bytes: cls };
    }
    const buffer = this.device.createBuffer({
      size: cls,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    this.stats.allocatedBytes += cls;
    return { buffer, bytes: cls };
  }

  /** Return a buffer to the pool. */
  free(b: GpuBuffer): void {
    if (this.released) return;
    if (!this.encoder) return this.toClean(b);
    let list = this.dirty.get(b.bytes);
    if (!list) this.dirty.set(b.bytes, (list = []));
    list.push(b.buffer);
  }

  private toClean(b: GpuBuffer): void {
    if (this.stats.pooledBytes + b.bytes > POOL_CAP_BYTES) {
      b.buffer.destroy();
      this.stats.allocatedBytes -= b.bytes;
      return;
    }
    let list = this.clean.get(b.bytes);
    if (!list) this.clean.set(b.bytes, (list = []));
    list.push(b.buffer);
    this.stats.pooledBytes += b.bytes;
  }

  /**
   * Copy host bytes into a new buffer (length padded to a multiple of 4).
   * Small uploads are staged in an arena and copied in order with the
   * kernels, so their target may be any pooled buffer; large ones are
   * written directly into a buffer that no unsubmitted work uses.
   */
  upload(data: ArrayBufferView, what: string): GpuBuffer {
    const bytes = Math.max(4, Math.ceil(data.byteLength / 4) * 4);
    const src = data.byteLength % 4 === 0 ? data : padTo4(data, bytes);
    if (bytes > UPLOAD_ARENA_BYTES / 4) {
      const b = this.alloc(bytes, what, true);
      this.device.queue.writeBuffer(b.buffer, 0, src.buffer, src.byteOffset, src.byteLength);
      return b;
    }
    if (this.uploadOffset + bytes > UPLOAD_ARENA_BYTES) this.submit();
    const b = this.alloc(bytes, what);
    const offset = this.uploadOffset;
    this.uploadOffset += bytes;
    if (src.byteLength > 0) {
      this.device.queue.writeBuffer(this.uploadArena, offset, src.buffer, src.byteOffset, src.byteLength);
      this.copy(this.uploadArena, offset, b.buffer, 0, src.byteLength);
    }
    return b;
  }

  // --- encoding -----------------------------------------------------------

  private getEncoder(): GPUCommandEncoder {
    this.assertAlive();
    return (this.encoder ??= this.device.createCommandEncoder());
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  /** Encode a buffer-to-buffer copy in order with the kernels. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    if (bytes === 0) return;
    const enc = this.getEncoder();
    this.endPass();
    enc.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Encode zero-filling of a buffer range (multiple of 4 bytes). */
  clear(buf: GPUBuffer, offset: number, bytes: number): void {
    if (bytes === 0) return;
    const enc = this.getEncoder();
    this.endPass();
    enc.clearBuffer(buf, offset, bytes);
  }

  private layoutFor(bindings: readonly Binding[]): { key: string; layout: GPUBindGroupLayout } {
    const key = bindings.map((b) => (b.access === "read" ? "r" : "w")).join("") + "u";
    let layout = this.layouts.get(key);
    if (!layout) {
      const entries: GPUBindGroupLayoutEntry[] = bindings.map((b, i) => ({
        binding: i,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: b.access === "read" ? "read-only-storage" : "storage" },
      }));
      entries.push({ binding: bindings.length, visibility: GPUShaderStage.COMPUTE, buffer: { type: "uniform" } });
      layout = this.device.createBindGroupLayout({ entries });
      this.layouts.set(key, layout);
    }
    return { key, layout };
  }

  private pipeline(d: Dispatch, layoutKey: string, layout: GPUBindGroupLayout): GPUComputePipeline {
    const key = `${d.key}|${layoutKey}`;
    let p = this.pipelines.get(key);
    if (!p) {
      const code = d.wgsl();
      const module = this.device.createShaderModule({ code, label: d.name });
      p = this.device.createComputePipeline({
        label: d.name,
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: "main" },
      });
      this.pipelines.set(key, p);
      this.stats.pipelines++;
    }
    return p;
  }

  /** Split a workgroup total over x and y when it exceeds the per-dimension limit. */
  grid(total: number, name: string): [number, number, number] {
    const max = this.limits.maxComputeWorkgroupsPerDimension;
    if (total <= max) return [total, 1, 1];
    const y = Math.ceil(total / max);
    if (y > max)
      throw new AnchorError(`webgpu: ${name} needs ${total} workgroups, more than ${max}² (maxComputeWorkgroupsPerDimension squared)`);
    return [max, y, 1];
  }

  /** Encode one kernel launch into the current batch. */
  dispatch(d: Dispatch): void {
    const grid = typeof d.workgroups === "number" ? this.grid(d.workgroups, d.name) : d.workgroups;
    if (grid[0] * grid[1] * grid[2] === 0) return;
    if (this.debug) this.device.pushErrorScope("validation");
    const { key, layout } = this.layoutFor(d.bindings);
    const pipe = this.pipeline(d, key, layout);
    const words = Math.max(4, Math.ceil(d.params.length / 4) * 4);
    const align = this.limits.minUniformBufferOffsetAlignment;
    const slot = Math.ceil((words * 4) / align) * align;
    if (this.arenaOffset + slot > ARENA_BYTES) this.submit();
    const offset = this.arenaOffset;
    this.arenaOffset += slot;
    const data = new Uint32Array(words);
    data.set(d.params);
    this.device.queue.writeBuffer(this.arena, offset, data);
    const entries: GPUBindGroupEntry[] = d.bindings.map((b, i) => ({ binding: i, resource: { buffer: b.buf } }));
    entries.push({ binding: d.bindings.length, resource: { buffer: this.arena, offset, size: words * 4 } });
    const group = this.device.createBindGroup({ layout, entries });
    const enc = this.getEncoder();
    this.pass ??= enc.beginComputePass();
    this.pass.setPipeline(pipe);
    this.pass.setBindGroup(0, group);
    this.pass.dispatchWorkgroups(grid[0], grid[1], grid[2]);
    this.stats.dispatches++;
    if (d.bindings.some((b) => b.buf === this.errorFlag)) this.indexKernelsSinceCheck = true;
    if (this.debug) {
      this.submit(); // one kernel per submit, so the scope sees its errors
      this.popScope(d.name);
    } else if (++this.batched >= MAX_BATCH) {
      this.submit();
    }
  }

  private popScope(name: string): void {
    if (!this.debug) return;
    this.scoped.push(this.device.popErrorScope().then((e) => (e ? `kernel "${name}": ${e.message}` : null)));
  }

  /** Submit the current batch (a sync point or a full batch). */
  submit(): void {
    this.endPass();
    if (this.encoder) {
      this.device.queue.submit([this.encoder.finish()]);
      this.encoder = null;
      this.stats.submits++;
    }
    this.batched = 0;
    this.arenaOffset = 0;
    this.uploadOffset = 0;
    for (const [bytes, list] of this.dirty) for (const buffer of list) this.toClean({ buffer, bytes });
    this.dirty.clear();
  }

  // --- readback -----------------------------------------------------------

  /** Read `bytes` from the start of `src`. Reads in the same tick share one submit. */
  read(src: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    this.assertAlive();
    const padded = Math.max(4, Math.ceil(bytes / 4) * 4);
    const cls = sizeClass(padded);
    const staging =
      this.staging.get(cls)?.pop() ?? this.device.createBuffer({ size: cls, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    // Encode the copy now, so later kernels that reuse `src` cannot overwrite it first.
    this.copy(src, 0, staging, 0, padded);
    return new Promise((resolve, reject) => {
      this.reads.push({ src, bytes, staging, stagingClass: cls, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        queueMicrotask(() => void this.flushReads());
      }
    });
  }

  /** Wait for all work so far, surfacing any error. */
  async sync(): Promise<void> {
    await this.read(this.errorFlag, 4);
  }

  private async flushReads(): Promise<void> {
    this.flushScheduled = false;
    const reads = this.reads;
    this.reads = [];
    let flagStaging: GPUBuffer | null = null;
    if (this.indexKernelsSinceCheck) {
      flagStaging = this.device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      this.copy(this.errorFlag, 0, flagStaging, 0, 16);
      this.clear(this.errorFlag, 0, 16);
      this.indexKernelsSinceCheck = false;
    }
    try {
      this.assertAlive();
      this.submit();
      await this.untilMapped([...reads.map((r) => r.staging), ...(flagStaging ? [flagStaging] : [])]);
      const problem = await this.collectErrors(flagStaging);
      if (problem) throw problem;
      for (const r of reads) {
        r.resolve(r.staging.getMappedRange(0, Math.max(4, Math.ceil(r.bytes / 4) * 4)).slice(0, r.bytes));
        r.staging.unmap();
        this.returnStaging(r);
      }
    } catch (e) {
      for (const r of reads) {
        if (r.staging.mapState === "mapped") r.staging.unmap();
        r.reject(e);
      }
    } finally {
      flagStaging?.destroy();
    }
  }

  private returnStaging(r: PendingRead): void {
    let list = this.staging.get(r.stagingClass);
    if (!list) this.staging.set(r.stagingClass, (list = []));
    list.push(r.staging);
  }

  /** Map the staging buffers, failing (not hanging) if the device is lost. */
  private async untilMapped(bufs: readonly GPUBuffer[]): Promise<void> {
    const lost = this.handle.lost.then((reason) => {
      throw this.lostError(reason);
    });
    await Promise.race([Promise.all(bufs.map((b) => b.mapAsync(GPUMapMode.READ))), lost]);
  }

  private async collectErrors(flagStaging: GPUBuffer | null): Promise<AnchorError | null> {
    const scoped = (await Promise.all(this.scoped)).filter((m): m is string => m !== null);
    this.scoped = [];
    const uncaptured = this.uncaptured;
    this.uncaptured = [];
    if (scoped.length) return new AnchorError(`webgpu validation error in ${scoped.join("\n")}`);
    if (uncaptured.length) {
      return new AnchorError(`webgpu error: ${uncaptured.join("\n")}\n(set ANCHORGRAD_DEBUG_GPU=1 to name the kernel that caused it)`);
    }
    if (flagStaging) {
      const [code, position, index, size] = new Uint32Array(flagStaging.getMappedRange().slice(0));
      flagStaging.unmap();
      if (code) {
        const op = INDEX_ERROR_OPS[code!] ?? `kernel ${code}`;
        return new AnchorError(
          `${op}: index ${index! | 0} at position ${position} is out of range for an axis of size ${size} (found on the webgpu device; results computed since then are invalid)`,
        );
      }
    }
    return null;
  }

  // --- lifecycle ----------------------------------------------------------

  private lostError(reason: string): AnchorError {
    return new AnchorError(
      `webgpu: the device was lost (${reason}); tensors on it are gone. Call await ag.useBackend("webgpu") to start a new device.`,
    );
  }

  assertAlive(): void {
    if (this.released) throw new AnchorError('webgpu: the backend was released; call await ag.useBackend("webgpu") to start it again');
    if (this.lostReason !== null) throw this.lostError(this.lostReason);
  }

  get isAlive(): boolean {
    return !this.released && this.lostReason === null;
  }

  /** Drop every buffer and pipeline; the device itself is destroyed by the caller. */
  release(): void {
    this.released = true;
    this.encoder = null;
    this.pass = null;
    this.pipelines.clear();
    this.layouts.clear();
    this.clean.clear();
    this.staging.clear();
    this.dirty.clear();
  }
}

/**
 * The WebGPU runtime under the kernels: one object that kernels call, made of
 * three parts with one job each:
 *
 * - `GpuQueue` (queue.ts): the device and its queue, command batching,
 *   submission, uniform/upload arenas, readback, error scopes, device loss;
 * - `BufferPool` (pool.ts): storage and staging buffers by size class;
 * - `PipelineCache` (pipelines.ts): layouts, pipelines and bind groups.
 *
 * Why the caches are as they are: under a synchronous loop (no await), Dawn
 * through Node-API frees a native object only after V8 collects its wrapper
 * and the event loop turns, so every per-dispatch native object (a bind group,
 * a compute pass ended by a copy) is held for as long as the loop runs. A
 * repeated step therefore creates none: buffers come from the pool, bind
 * groups from the cache, parameters go through one write per submit, and
 * copies run as a shader inside the pass. What Dawn does free without the
 * event loop is finished work (it checks at every submit); on lavapipe the
 * queue's throttle keeps the unfinished work bounded (throttle.ts).
 */
import { AnchorError } from "../../tensor/errors.js";
import type { DeviceHandle } from "./device.js";
import { PipelineCache, type Binding } from "./pipelines.js";
import { BufferPool, type GpuBuffer } from "./pool.js";
import { COPY_PARAM_WORDS, GpuQueue, type FaultKind } from "./queue.js";
import { decl, entryLoop, loopGroups, paramsDecl } from "./wgsl.js";

export type { Access, Binding } from "./pipelines.js";
export { sizeClass, type GpuBuffer } from "./pool.js";
export { INDEX_ERROR_OPS, type FaultKind } from "./queue.js";

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

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** The bit pattern of a float32, for passing floats as u32 params. */
export function f32Bits(x: number): number {
  f32[0] = x;
  return u32[0]!;
}

const COPY_WG = 64;
/** Copies up to this size may run as a shader inside the pass (see `Runtime.copy`). */
const SHADER_COPY_MAX_BYTES = 16 << 10;
/** The copy shader: words [p(0), p(0) + p(2)) of Src to p(1).. of Dst. */
const copyWgsl = (): string =>
  [
    decl(0, "Src", "u32", "read"),
    decl(1, "Dst", "u32", "read_write"),
    paramsDecl(2, COPY_PARAM_WORDS),
    entryLoop(COPY_WG, "p(2u)", "    Dst[p(1u) + idx] = Src[p(0u) + idx];"),
  ].join("\n");

function padTo4(data: ArrayBufferView, bytes: number): Uint8Array {
  const padded = new Uint8Array(bytes);
  padded.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return padded;
}

/** What `ag.memoryStats().webgpu.gpu` reports: gauges first, then counters since the device started. */
export interface RuntimeStats {
  /** GPU buffers alive (in use or pooled) and their bytes. */
  buffers: number;
  bufferBytes: number;
  /** Bytes free in the pool. */
  poolBytes: number;
  pipelines: number;
  bindGroups: number;
  /** Counters. */
  dispatches: number;
  allocations: number;
  poolHits: number;
  readbacks: number;
  submits: number;
  bindGroupsCreated: number;
  /** Synchronous waits for a software adapter to run its queued work, their total ms, and those that gave up (queue.ts, throttle.ts). */
  throttleWaits: number;
  throttleMs: number;
  throttleTimeouts: number;
}

export class Runtime {
  readonly device: GPUDevice;
  readonly limits: DeviceHandle["limits"];
  readonly pool: BufferPool;
  readonly pipelines: PipelineCache;
  readonly queue: GpuQueue;
  private dispatches = 0;
  private fault: { kind: FaultKind; kernel?: string } | null = null;

  constructor(readonly handle: DeviceHandle) {
    this.device = handle.device;
    this.limits = handle.limits;
    const { maxStorageBufferBindingSize: binding, maxBufferSize: buffer } = this.limits;
    this.pool = new BufferPool(this.device, Math.min(binding, buffer), buffer < binding ? "maxBufferSize" : "maxStorageBufferBindingSize");
    this.pipelines = new PipelineCache(this.device);
    this.queue = new GpuQueue(handle, this.pool);
  }

  get debug(): boolean {
    return this.queue.debug;
  }

  /** Kernels may flag out-of-range indices here: [op code, position, index, axis size]. */
  get errorFlag(): GPUBuffer {
    return this.queue.errorFlag;
  }

  /** The largest tensor a kernel may bind, in bytes. */
  get maxBinding(): number {
    return this.pool.maxBinding;
  }

  get stats(): RuntimeStats {
    const { buffers, bufferBytes, poolBytes, allocations, poolHits } = this.pool.stats;
    const { pipelines, bindGroups, bindGroupsCreated } = this.pipelines.stats;
    const { submits, readbacks, throttleWaits, throttleMs, throttleTimeouts } = this.queue.stats;
    return {
      buffers,
      bufferBytes,
      poolBytes,
      pipelines,
      bindGroups,
      dispatches: this.dispatches,
      allocations,
      poolHits,
      readbacks,
      submits,
      bindGroupsCreated,
      throttleWaits,
      throttleMs,
      throttleTimeouts,
    };
  }

  // --- buffers ------------------------------------------------------------

  /** A storage buffer of at least `bytes`, refused before any dispatch if the device cannot bind it. */
  alloc(bytes: number, what: string): GpuBuffer {
    this.queue.assertAlive();
    return this.pool.alloc(bytes, what);
  }

  /** Return a buffer to the pool. */
  free(b: GpuBuffer): void {
    if (this.queue.isAlive) this.pool.free(b, this.queue.encoding);
  }

  /**
   * Copy host bytes into a new buffer (length padded to a multiple of 4).
   * Small uploads are staged and copied in order with the kernels, so their
   * target may be any pooled buffer; large ones are written directly into a
   * buffer that no unsubmitted work uses.
   */
  upload(data: ArrayBufferView, what: string): GpuBuffer {
    this.queue.assertAlive();
    const bytes = Math.max(4, Math.ceil(data.byteLength / 4) * 4);
    const src = data.byteLength % 4 === 0 ? data : padTo4(data, bytes);
    const direct = GpuQueue.isDirectUpload(bytes);
    const b = this.pool.alloc(bytes, what, direct);
    if (src.byteLength > 0) this.queue.write(b.buffer, src, direct, this.copyFn);
    return b;
  }

  /**
   * Copy `bytes` from `src` to `dst` in order with the kernels, with
   * `copyBufferToBuffer`, which ends the compute pass. While the event loop
   * is held (a loop with no await, see `GpuQueue.eventLoopHeld`), a small
   * copy between two storage buffers runs as a copy shader inside the pass
   * instead (not counted in `dispatches`): each ended pass is a native object
   * that Node-API frees only from the event loop (~1.7 KB on lavapipe), and
   * such a loop ended ~47 passes per 1,000 dispatches. The shader is slower
   * than a copy command on lavapipe (+0.08 ms for 1 KB, 12x at 256 KB), so
   * it is kept to those loops and to small copies.
   */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    if (bytes === 0) return;
    const storage = GPUBufferUsage.STORAGE;
    if (
      bytes > SHADER_COPY_MAX_BYTES ||
      !this.queue.eventLoopHeld ||
      src === dst ||
      (srcOffset | dstOffset | bytes) % 4 !== 0 ||
      !(src.usage & storage) ||
      !(dst.usage & storage) ||
      src.size > this.maxBinding ||
      dst.size > this.maxBinding
    ) {
      this.queue.copy(src, srcOffset, dst, dstOffset, bytes);
      return;
    }
    const words = bytes / 4;
    this.encode(
      {
        name: "copy",
        key: "runtime:copy",
        wgsl: copyWgsl,
        bindings: [
          { buf: src, access: "read" },
          { buf: dst, access: "read_write" },
        ],
        params: [srcOffset / 4, dstOffset / 4, words],
        workgroups: loopGroups(words, COPY_WG),
      },
      false,
    );
  }

  private readonly copyFn = this.copy.bind(this);

  clear(buf: GPUBuffer, offset: number, bytes: number): void {
    this.queue.clear(buf, offset, bytes);
  }

  // --- kernels ------------------------------------------------------------

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
    this.encode(d, true);
  }

  /** Encode a kernel; `counted`: a kernel's launch (in `dispatches`, subject to injected faults), not the runtime's own copy. */
  private encode(d: Dispatch, counted: boolean): void {
    const grid = typeof d.workgroups === "number" ? this.grid(d.workgroups, d.name) : d.workgroups;
    if (grid[0] * grid[1] * grid[2] === 0) return;
    const slot = this.queue.uniformSlot(d.params);
    this.queue.open(d.name);
    const { key, layout } = this.pipelines.layout(d.bindings);
    const pipe = this.pipelines.pipeline(d.name, d.key, d.wgsl, key, layout);
    const ids = d.bindings.map((b) => this.pool.idOf(b.buf));
    const group = this.pipelines.bindGroup(key, layout, d.bindings, ids, this.queue.uniforms, slot.bytes);
    if (d.bindings.some((b) => b.buf === this.queue.errorFlag)) this.queue.flagged = true;
    if (counted) this.dispatches++;
    const fault = counted ? this.takeFault(d.name) : null;
    const over: readonly number[] = [this.limits.maxComputeWorkgroupsPerDimension + 1, 1, 1];
    this.queue.dispatch(d.name, pipe, group, slot.offset, fault === "validation" ? over : grid);
    if (fault === "out-of-memory") this.queue.reportError(`kernel "${d.name}": out of memory: injected by the test hook`);
    if (fault === "device-lost") this.device.destroy();
  }

  /**
   * Test hook: make the next dispatch (of `kernel`, if given) fail the way a
   * real fault would. "validation" encodes that dispatch over the device's
   * workgroup limit, which Dawn rejects; "out-of-memory" reports an
   * out-of-memory error for it as an error scope would; "device-lost"
   * destroys the device right after encoding it. The error surfaces at the
   * next read, naming the kernel.
   */
  injectFault(kind: FaultKind, kernel?: string): void {
    this.fault = { kind, kernel };
  }

  private takeFault(name: string): FaultKind | null {
    const f = this.fault;
    if (!f || (f.kernel !== undefined && f.kernel !== name)) return null;
    this.fault = null;
    return f.kind;
  }

  // --- sync ---------------------------------------------------------------

  /** Read `bytes` from the start of `src`. Reads in the same tick share one submit. */
  read(src: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    return this.queue.read(src, bytes);
  }

  /** Wait for all work so far, surfacing any error. */
  async sync(): Promise<void> {
    await this.read(this.queue.errorFlag, 4);
  }

  submit(): void {
    this.queue.submit();
  }

  assertAlive(): void {
    this.queue.assertAlive();
  }

  get isAlive(): boolean {
    return this.queue.isAlive;
  }

  /** Drop every buffer and pipeline; the device itself is destroyed by the caller. */
  release(): void {
    this.queue.release();
    this.pipelines.clear();
    this.pool.clear();
  }
}

/**
 * The device and its queue: command batching and submission, the uniform
 * and upload arenas, readback, and the errors that surface at a sync point.
 *
 * - Work is encoded into one command encoder and, as far as possible, one
 *   compute pass (the runtime copies between storage buffers with a shader),
 *   and submitted at a sync point (a read) or when a batch is full. Each
 *   encoder, pass and command buffer is a native object that Node-API frees
 *   only from the event loop, which a loop with no await never reaches, so
 *   there are few of them: about one of each per 512 dispatches.
 * - On a software adapter the work queued but not yet run is bounded without
 *   awaiting (throttle.ts): lavapipe's submit queue has no limit, and each
 *   queued dispatch holds its recorded commands until it has run.
 * - Kernel parameters go into a host mirror of a uniform arena, one aligned
 *   slot per dispatch, written to the GPU with one `writeBuffer` per submit.
 * - Small uploads are staged in an upload arena and copied in order with the
 *   kernels (`writeBuffer` runs ahead of the unsubmitted batch).
 * - Reads copy into pooled MAP_READ buffers; reads of one tick share a submit.
 * - Errors: each batch runs inside validation and out-of-memory error scopes,
 *   whose messages name the batch's kernels (ANCHORGRAD_DEBUG_GPU=1 scopes
 *   and submits each kernel alone, to name the exact one); a lost device
 *   fails every wait (never a hang) and names the last kernel encoded;
 *   out-of-range indices flagged by gather/scatterAdd are reported at reads.
 */
import { AnchorError } from "../../tensor/errors.js";
import { isSoftwareAdapter, type DeviceHandle } from "./device.js";
import type { BufferPool } from "./pool.js";
import { SubmitThrottle, type ThrottleStats } from "./throttle.js";

const UNIFORM_ARENA_BYTES = 1 << 16;
const UPLOAD_ARENA_BYTES = 1 << 18;
/** Dispatches per submit; larger batches made lavapipe's submit thread fail. */
const MAX_BATCH = 512;

/** Index-error codes written by kernels into the error flag buffer. */
export const INDEX_ERROR_OPS = ["", "gather", "scatterAdd"] as const;

/** Faults the test hook can inject (see `Runtime.injectFault`). */
export type FaultKind = "validation" | "out-of-memory" | "device-lost";

export interface QueueStats extends ThrottleStats {
  submits: number;
  /** Counter: host readbacks (each `read`, including syncs). */
  readbacks: number;
}

interface PendingRead {
  bytes: number;
  staging: GPUBuffer;
  cls: number;
  resolve(b: ArrayBuffer): void;
  reject(e: unknown): void;
}

/** A buffer-to-buffer copy (offsets and size in bytes, multiples of 4). */
export type CopyFn = (src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number) => void;

/** Parameters of the runtime's copy shader (source word, destination word, words). */
export const COPY_PARAM_WORDS = 3;

/** n rounded up to a multiple of 4, at least 4: bytes of a copy, or words of a uniform slot (whole vec4s). */
const pad4 = (n: number): number => Math.max(4, Math.ceil(n / 4) * 4);

export class GpuQueue {
  readonly device: GPUDevice;
  readonly debug = process.env.ANCHORGRAD_DEBUG_GPU === "1";
  private readonly counts = { submits: 0, readbacks: 0 };
  /** Bounds the work queued on a software adapter without awaiting (see throttle.ts); null elsewhere. */
  private readonly throttle: SubmitThrottle | null;

  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  /** Kernel names of the current batch, for error messages. */
  private batch: string[] = [];
  readonly uniforms: GPUBuffer;
  private readonly uniformWords = new Uint32Array(UNIFORM_ARENA_BYTES / 4);
  private uniformOffset = 0;
  private readonly uploadArena: GPUBuffer;
  private uploadOffset = 0;
  private reads: PendingRead[] = [];
  private flushScheduled = false;

  /** Kernels may flag out-of-range indices here: [op code, position, index, axis size]. */
  readonly errorFlag: GPUBuffer;
  flagged = false;
  private errors: string[] = [];
  /** Error-scope results not yet settled. */
  private readonly scopes = new Set<Promise<void>>();
  private lastKernel: string | null = null;
  private lostReason: string | null = null;
  private released = false;

  constructor(
    readonly handle: DeviceHandle,
    private readonly pool: BufferPool,
  ) {
    this.device = handle.device;
    this.throttle = SubmitThrottle.create(isSoftwareAdapter(handle));
    this.device.onuncapturederror = (ev) => void this.errors.push(ev.error.message);
    void handle.lost.then((reason) => {
      this.lostReason = this.released ? "the backend was released" : reason;
    });
    this.uniforms = this.device.createBuffer({ size: UNIFORM_ARENA_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    // STORAGE too: the runtime copies out of it with a shader, inside the compute pass
    this.uploadArena = this.device.createBuffer({
      size: UPLOAD_ARENA_BYTES,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    this.errorFlag = this.device.createBuffer({
      size: 16,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
  }

  get stats(): QueueStats {
    const t = this.throttle?.stats;
    return {
      ...this.counts,
      throttleWaits: t?.throttleWaits ?? 0,
      throttleMs: Math.round(t?.throttleMs ?? 0),
      throttleTimeouts: t?.throttleTimeouts ?? 0,
    };
  }

  /** Whether work is being encoded (buffers freed now may still be read by it). */
  get encoding(): boolean {
    return this.encoder !== null;
  }

  // --- encoding -----------------------------------------------------------

  /** Start a batch if none is open: the encoder and, outside debug mode, its error scopes. */
  private begin(): GPUCommandEncoder {
    this.assertAlive();
    if (this.encoder) return this.encoder;
    if (!this.debug) {
      this.device.pushErrorScope("validation");
      this.device.pushErrorScope("out-of-memory");
    }
    return (this.encoder = this.device.createCommandEncoder());
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  /** Encode a buffer-to-buffer copy in order with the kernels. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    if (bytes === 0) return;
    const enc = this.begin();
    this.endPass();
    enc.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Encode zero-filling of a buffer range (multiple of 4 bytes). */
  clear(buf: GPUBuffer, offset: number, bytes: number): void {
    if (bytes === 0) return;
    const enc = this.begin();
    this.endPass();
    enc.clearBuffer(buf, offset, bytes);
  }

  /**
   * Reserve a uniform slot for `params` (u32 words, padded to a multiple of
   * 4) in the current batch; returns its offset and size in bytes. Call
   * before `open` creates pipelines, so a full arena is submitted first.
   */
  uniformSlot(params: readonly number[]): { offset: number; bytes: number } {
    const words = pad4(params.length);
    const slot = this.slotBytes(words);
    if (this.uniformOffset + slot > UNIFORM_ARENA_BYTES) this.submit();
    const offset = this.uniformOffset;
    this.uniformOffset += slot;
    this.uniformWords.fill(0, offset / 4, offset / 4 + words);
    this.uniformWords.set(params, offset / 4);
    return { offset, bytes: words * 4 };
  }

  private slotBytes(words: number): number {
    const align = this.handle.limits.minUniformBufferOffsetAlignment;
    return Math.ceil((words * 4) / align) * align;
  }

  /** Whether the uniform arena still has a slot for `words` parameters in this batch. */
  private uniformRoom(words: number): boolean {
    return this.uniformOffset + this.slotBytes(pad4(words)) <= UNIFORM_ARENA_BYTES;
  }

  /** Open (or reuse) the batch for kernel `name`; in debug mode, scope its errors. */
  open(name: string): void {
    this.begin();
    if (this.debug) this.device.pushErrorScope("validation");
    this.batch.push(name);
    this.lastKernel = name;
  }

  /** Encode a dispatch opened with `open`. */
  dispatch(name: string, pipe: GPUComputePipeline, group: GPUBindGroup, uniformOffset: number, grid: readonly number[]): void {
    this.pass ??= this.begin().beginComputePass();
    this.pass.setPipeline(pipe);
    this.pass.setBindGroup(0, group, [uniformOffset]);
    this.pass.dispatchWorkgroups(grid[0]!, grid[1]!, grid[2]!);
    if (this.debug) {
      this.submit(); // one kernel per submit, so the scope sees its errors
      this.watch(this.device.popErrorScope(), `kernel "${name}"`);
    } else if (this.batch.length >= MAX_BATCH) {
      this.submit();
    }
  }

  /**
   * Copy host bytes into `dst` in order with the kernels (small uploads) or
   * ahead of them (`direct`). A small upload is staged in the upload arena and
   * copied by `copy` (the runtime's, which stays inside the compute pass); the
   * batch is submitted first if the arena or the uniform arena (for that
   * copy's parameters) is full, so `copy` itself never submits.
   */
  write(dst: GPUBuffer, data: ArrayBufferView, direct: boolean, copy: CopyFn): void {
    if (direct) {
      this.assertAlive();
      this.device.queue.writeBuffer(dst, 0, data.buffer, data.byteOffset, data.byteLength);
      return;
    }
    const bytes = pad4(data.byteLength);
    if (this.uploadOffset + bytes > UPLOAD_ARENA_BYTES || !this.uniformRoom(COPY_PARAM_WORDS)) this.submit();
    const offset = this.uploadOffset;
    this.uploadOffset += bytes;
    this.assertAlive();
    this.device.queue.writeBuffer(this.uploadArena, offset, data.buffer, data.byteOffset, data.byteLength);
    copy(this.uploadArena, offset, dst, 0, data.byteLength);
  }

  /** Whether `bytes` go straight into their buffer rather than through the upload arena. */
  static isDirectUpload(bytes: number): boolean {
    return bytes > UPLOAD_ARENA_BYTES / 4;
  }

  /**
   * Submit the current batch (a sync point or a full batch). On a software
   * adapter, past a few submits not yet seen to finish, this waits until the
   * queued work has run (`throttle`: a read awaits it anyway).
   */
  submit(throttle = true): void {
    this.endPass();
    const submitted = this.encoder !== null;
    if (this.encoder) {
      if (this.uniformOffset > 0) {
        this.device.queue.writeBuffer(this.uniforms, 0, this.uniformWords.buffer, 0, this.uniformOffset);
      }
      this.device.queue.submit([this.encoder.finish()]);
      this.encoder = null;
      this.counts.submits++;
      if (!this.debug) {
        const where = describeBatch(this.batch);
        this.watch(this.device.popErrorScope(), where); // out-of-memory
        this.watch(this.device.popErrorScope(), where); // validation
      }
    }
    this.batch = [];
    this.uniformOffset = 0;
    this.uploadOffset = 0;
    this.pool.settle();
    if (submitted) this.noteSubmit();
    if (throttle && submitted) this.throttle?.submitted();
  }

  /** Submits since the event loop last turned (counted from a setImmediate armed at a submit). */
  private submitsSinceTurn = 0;
  private turnArmed = false;

  private noteSubmit(): void {
    this.submitsSinceTurn++;
    if (this.turnArmed) return;
    this.turnArmed = true;
    setImmediate(() => {
      this.turnArmed = false;
      this.submitsSinceTurn = 0;
    }).unref();
  }

  /**
   * Whether the caller has not let the event loop turn for a few submits (a
   * loop with no await): then every native object made now (a compute pass
   * ended by a copy) stays alive until it does, as Node-API frees them only
   * from the event loop.
   */
  get eventLoopHeld(): boolean {
    return this.submitsSinceTurn >= 2;
  }

  /** Keep an error scope's result until the next sync point. */
  private watch(scope: Promise<GPUError | null>, where: string): void {
    const p: Promise<void> = scope.then(
      (e) => {
        if (e) this.errors.push(`${where}: ${errorKind(e)}: ${e.message}`);
      },
      () => {}, // popErrorScope rejects only once the device is lost, which the lost path reports
    );
    this.scopes.add(p);
    void p.then(() => this.scopes.delete(p));
  }

  /** Record an error as Dawn would report it (the fault-injection hook uses this). */
  reportError(message: string): void {
    this.errors.push(message);
  }

  // --- readback -----------------------------------------------------------

  /** Read `bytes` from the start of `src`. Reads in the same tick share one submit. */
  read(src: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    this.assertAlive();
    this.counts.readbacks++;
    const { buffer: staging, cls } = this.pool.allocStaging(pad4(bytes));
    // Encode the copy now, so later kernels that reuse `src` cannot overwrite it first.
    this.copy(src, 0, staging, 0, pad4(bytes));
    return new Promise((resolve, reject) => {
      this.reads.push({ bytes, staging, cls, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        queueMicrotask(() => void this.flushReads());
      }
    });
  }

  private async flushReads(): Promise<void> {
    this.flushScheduled = false;
    const reads = this.reads;
    this.reads = [];
    let flag: { buffer: GPUBuffer; cls: number } | null = null;
    try {
      this.assertAlive();
      if (this.flagged) {
        flag = this.pool.allocStaging(16);
        this.copy(this.errorFlag, 0, flag.buffer, 0, 16);
        this.clear(this.errorFlag, 0, 16);
        this.flagged = false;
      }
      this.submit(false);
      await this.untilMapped([...reads.map((r) => r.staging), ...(flag ? [flag.buffer] : [])]);
      this.throttle?.confirmIdle(); // the copies into the staging buffers were the batch's last commands
      const problem = await this.collectErrors(flag?.buffer ?? null);
      if (problem) throw problem;
      for (const r of reads) {
        r.resolve(r.staging.getMappedRange(0, pad4(r.bytes)).slice(0, r.bytes));
        r.staging.unmap();
        this.pool.freeStaging(r.staging, r.cls);
      }
    } catch (e) {
      for (const r of reads) {
        if (r.staging.mapState === "mapped") r.staging.unmap();
        r.reject(e);
      }
    } finally {
      if (flag) {
        if (flag.buffer.mapState === "mapped") flag.buffer.unmap();
        this.pool.freeStaging(flag.buffer, flag.cls);
      }
    }
  }

  /** Map the staging buffers, failing (not hanging) if the device is lost. */
  private async untilMapped(bufs: readonly GPUBuffer[]): Promise<void> {
    const lost = this.handle.lost.then((reason) => {
      throw this.lostError(reason);
    });
    await Promise.race([Promise.all(bufs.map((b) => b.mapAsync(GPUMapMode.READ))), lost]);
  }

  private async collectErrors(flag: GPUBuffer | null): Promise<AnchorError | null> {
    await Promise.all(this.scopes);
    const errors = this.errors;
    this.errors = [];
    if (errors.length) {
      const hint = this.debug ? "" : "\n(set ANCHORGRAD_DEBUG_GPU=1 to submit kernels one by one and name the exact one)";
      return new AnchorError(`webgpu error in ${errors.join("\n")}${hint}`);
    }
    if (flag) {
      const [code, position, index, size] = new Uint32Array(flag.getMappedRange().slice(0));
      flag.unmap();
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
    const after = this.lastKernel ? ` after kernel "${this.lastKernel}" was encoded` : "";
    return new AnchorError(
      `webgpu: the device was lost (${reason})${after}; tensors on it are gone. Call await ag.useBackend("webgpu") to start a new device.`,
    );
  }

  assertAlive(): void {
    if (this.released) throw new AnchorError('webgpu: the backend was released; call await ag.useBackend("webgpu") to start it again');
    if (this.lostReason !== null) throw this.lostError(this.lostReason);
  }

  get isAlive(): boolean {
    return !this.released && this.lostReason === null;
  }

  release(): void {
    this.released = true;
    this.encoder = null;
    this.pass = null;
  }
}

function errorKind(e: GPUError): string {
  return e.constructor.name === "GPUOutOfMemoryError" || /out of memory/i.test(e.message) ? "out of memory" : "validation error";
}

/** The kernels of a batch, for an error that happened somewhere in it. */
function describeBatch(names: readonly string[]): string {
  if (names.length === 0) return "a batch of copies";
  if (names.length === 1) return `kernel "${names[0]}"`;
  const unique = [...new Set(names)];
  const shown = unique.slice(0, 12).join(", ");
  return `a batch of ${names.length} kernels (${shown}${unique.length > 12 ? ", ..." : ""}; last "${names.at(-1)}")`;
}

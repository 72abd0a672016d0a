/**
 * The buffer allocator: storage buffers pooled by size class, and MAP_READ
 * staging buffers for readback pooled the same way.
 *
 * Size classes are the powers of two and the 3/4 points between them, so a
 * repeated step asks for the same classes and, after warm-up, every request is
 * a pool hit: no new GPUBuffer, no new native object (see runtime.ts for why
 * that matters in a loop that never yields). A buffer freed while work that
 * uses it is still being encoded goes to a "dirty" list: later work of the
 * same batch may reuse it (the encoder orders the two), but an upload, which
 * `queue.writeBuffer` runs ahead of the unsubmitted batch, may not. The queue
 * calls `settle()` after each submit to make dirty buffers clean.
 */
import { AnchorError } from "../../tensor/errors.js";

/** A pooled storage buffer; `bytes` is its size class, not the tensor's size. */
export interface GpuBuffer {
  readonly buffer: GPUBuffer;
  readonly bytes: number;
}

const MIN_CLASS = 256;
/** Free buffers beyond this many bytes are destroyed rather than kept. */
const POOL_CAP_BYTES = 1 << 30;

/** Size class: the smallest of 2^k and 3·2^(k-2) that holds `bytes`. */
export function sizeClass(bytes: number): number {
  if (bytes <= MIN_CLASS) return MIN_CLASS;
  const p = 2 ** Math.ceil(Math.log2(bytes));
  return bytes <= p * 0.75 ? p * 0.75 : p;
}

/** Gauges (current values) and counters (totals since the device started). */
export interface PoolStats {
  /** GPU buffers the pool created and has not destroyed (in use + free), storage and staging. */
  buffers: number;
  /** Their bytes. */
  bufferBytes: number;
  /** Bytes of storage buffers sitting free in the pool. */
  poolBytes: number;
  /** Counter: new GPUBuffers created (storage and staging). */
  allocations: number;
  /** Counter: requests served from the pool without creating a buffer. */
  poolHits: number;
}

type Lists = Map<number, GPUBuffer[]>;

function push(lists: Lists, cls: number, b: GPUBuffer): void {
  let list = lists.get(cls);
  if (!list) lists.set(cls, (list = []));
  list.push(b);
}

export class BufferPool {
  private readonly clean: Lists = new Map();
  /** Freed since the last submit: reusable by encoded work only. */
  private dirty: Lists = new Map();
  private readonly staging: Lists = new Map();
  readonly stats: PoolStats = { buffers: 0, bufferBytes: 0, poolBytes: 0, allocations: 0, poolHits: 0 };
  /** Each buffer's serial, for the bind-group cache's keys (serials are never reused). */
  private readonly ids = new WeakMap<GPUBuffer, number>();
  private nextId = 1;

  constructor(
    private readonly device: GPUDevice,
    /** The largest buffer a kernel may bind: min(maxStorageBufferBindingSize, maxBufferSize). */
    readonly maxBinding: number,
    private readonly limitName: string,
  ) {}

  /** A stable serial of a buffer (also for buffers the pool did not make). */
  idOf(b: GPUBuffer): number {
    let id = this.ids.get(b);
    if (id === undefined) this.ids.set(b, (id = this.nextId++));
    return id;
  }

  /** Refuse, before any dispatch, a buffer larger than the device can bind; the message gives both sizes. */
  checkSize(bytes: number, what: string): void {
    if (bytes > this.maxBinding) {
      throw new AnchorError(
        `webgpu: ${what} needs ${bytes} bytes, more than this device's ${this.limitName} (${this.maxBinding} bytes); split it into smaller tensors or use the cpu backend`,
      );
    }
  }

  /** A storage buffer of at least `bytes`; `forUpload` excludes buffers still used by unsubmitted work. */
  alloc(bytes: number, what: string, forUpload = false): GpuBuffer {
    this.checkSize(bytes, what);
    const cls = Math.min(sizeClass(bytes), this.maxBinding - (this.maxBinding % 4));
    const recent = forUpload ? undefined : this.dirty.get(cls)?.pop();
    if (recent) {
      this.stats.poolHits++;
      return { buffer: recent, bytes: cls };
    }
    const reused = this.clean.get(cls)?.pop();
    if (reused) {
      this.stats.poolHits++;
      this.stats.poolBytes -= cls;
      return { buffer: reused, bytes: cls };
    }
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    return { buffer: this.create(cls, usage), bytes: cls };
  }

  /** Return a buffer; `encoding` says whether unsubmitted work may still use it. */
  free(b: GpuBuffer, encoding: boolean): void {
    if (encoding) push(this.dirty, b.bytes, b.buffer);
    else this.toClean(b.buffer, b.bytes);
  }

  /** After a submit: buffers freed during the batch become reusable by uploads too. */
  settle(): void {
    for (const [cls, list] of this.dirty) for (const b of list) this.toClean(b, cls);
    this.dirty.clear();
  }

  /** A MAP_READ buffer of at least `bytes`, and its class for `freeStaging`. */
  allocStaging(bytes: number): { buffer: GPUBuffer; cls: number } {
    const cls = sizeClass(bytes);
    const reused = this.staging.get(cls)?.pop();
    if (reused) {
      this.stats.poolHits++;
      return { buffer: reused, cls };
    }
    return { buffer: this.create(cls, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST), cls };
  }

  freeStaging(buffer: GPUBuffer, cls: number): void {
    push(this.staging, cls, buffer);
  }

  /** Forget every buffer (the device is being destroyed with them). */
  clear(): void {
    this.clean.clear();
    this.dirty.clear();
    this.staging.clear();
  }

  private create(cls: number, usage: number): GPUBuffer {
    const buffer = this.device.createBuffer({ size: cls, usage });
    this.stats.allocations++;
    this.stats.buffers++;
    this.stats.bufferBytes += cls;
    return buffer;
  }

  private toClean(b: GPUBuffer, cls: number): void {
    if (this.stats.poolBytes + cls > POOL_CAP_BYTES) {
      b.destroy();
      this.stats.buffers--;
      this.stats.bufferBytes -= cls;
      return;
    }
    push(this.clean, cls, b);
    this.stats.poolBytes += cls;
  }
}

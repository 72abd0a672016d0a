/**
 * Blocks of the shared Wasm memory, handed out above the threads' scratch:
 * cpu tensor buffers live here (so Wasm kernels on every thread read and
 * write them in place, with no copies), and so does the GEMM's staging for
 * operands that do not.
 *
 * Free blocks wait in lists by exact (rounded) size: a training step asks
 * for the same sizes every time, so after the first step nothing new is
 * taken. Blocks are never merged or given back to the system (Wasm memory
 * cannot shrink); at `capBytes` a request takes an idle block up to twice
 * its size, or the heap says no and callers fall back to ordinary memory.
 */
import type { WasmThreads } from "./threads.js";

export interface Block {
  readonly ptr: number;
  readonly size: number;
}

/** Sizes round up to 64 bytes, and to 4 KiB from 64 KiB on, so near sizes share blocks. */
function rounded(bytes: number): number {
  const unit = bytes >= 1 << 16 ? 4096 : 64;
  return Math.max(unit, Math.ceil(bytes / unit) * unit);
}

export class WasmHeap {
  private top: number;
  private readonly idle = new Map<number, number[]>();
  private taken = 0;

  constructor(
    private readonly rt: WasmThreads,
    readonly capBytes: number,
  ) {
    this.top = rt.arenaBase;
  }

  /**
   * A block of at least `bytes` (64-byte aligned), or null past the cap
   * (transient blocks, freed before the caller returns, may pass it).
   */
  alloc(bytes: number, transient = false): Block | null {
    const size = rounded(bytes);
    const ptr = this.idle.get(size)?.pop();
    if (ptr !== undefined) {
      this.taken += size;
      return { ptr, size };
    }
    if (!transient && this.top + size - this.rt.arenaBase > this.capBytes) return this.idleFit(size);
    const block = { ptr: this.top, size };
    this.top += size;
    this.rt.ensure(this.top);
    this.taken += size;
    return block;
  }

  /** At the cap: the smallest idle block of at most twice `size`, rather than none. */
  private idleFit(size: number): Block | null {
    let best = 0;
    for (const [s, list] of this.idle) if (s > size && s <= 2 * size && list.length > 0 && (best === 0 || s < best)) best = s;
    if (best === 0) return null;
    this.taken += best;
    return { ptr: this.idle.get(best)!.pop()!, size: best };
  }

  free(block: Block): void {
    let list = this.idle.get(block.size);
    if (!list) this.idle.set(block.size, (list = []));
    list.push(block.ptr);
    this.taken -= block.size;
  }

  /** Bytes in blocks handed out and not yet freed, and the heap's extent. */
  stats(): { takenBytes: number; heapBytes: number } {
    return { takenBytes: this.taken, heapBytes: this.top - this.rt.arenaBase };
  }
}

type FloatCtor = Float32ArrayConstructor | Float64ArrayConstructor | Int32ArrayConstructor | Uint8ArrayConstructor | Uint16ArrayConstructor;

/** The SharedArrayBuffers our views were made on (memory.buffer is a new object after each grow). */
const ours = new WeakSet<ArrayBufferLike>();

/** A typed-array view of n elements at `ptr` in the runtime's memory. */
export function viewAt<C extends FloatCtor>(rt: WasmThreads, Ctor: C, ptr: number, n: number): InstanceType<C> {
  const buffer = rt.memory.buffer;
  ours.add(buffer);
  return new Ctor(buffer as unknown as ArrayBuffer, ptr, n) as InstanceType<C>;
}

/** Whether `arr` lies in the Wasm memory (its address is then arr.byteOffset). */
export function inWasmMemory(arr: ArrayBufferView): boolean {
  return ours.has(arr.buffer);
}

/**
 * The Wasm runtime of the cpu backend: one shared WebAssembly.Memory, the
 * compiled kernels instantiated on the main thread and on helper worker
 * threads over that same memory, and a synchronous fork/join.
 *
 * Kernels on the cpu backend are synchronous, so the join blocks the main
 * thread with Atomics.wait (allowed in Node) instead of awaiting a message.
 * A job is a list of "units", each one call of an exported kernel with up to
 * UNIT_ARGS i32 arguments, laid out in shared memory. Every thread, the main
 * one included, claims the next unit with an atomic counter until none are
 * left, so a thread the OS descheduled (other processes share the cores)
 * costs its in-flight unit, not half the job. A kernel gets the scratch of
 * the thread that runs it as its first argument. Workers are unref'd, so
 * they never keep the process alive, and are started from source text
 * (eval), so this works the same from dist/ and from TypeScript sources.
 *
 * Kernel sets made after start-up (the jit's generated loops) are posted to
 * each worker's port; a worker takes them with receiveMessageOnPort when it
 * wakes for a job and sees that more sets were loaded than it has, so its
 * kernel list grows in the main thread's order before it claims a unit.
 *
 * Memory layout: [control page][per-thread scratch][heap (heap.ts)].
 */
import { MessageChannel, Worker, type MessagePort } from "node:worker_threads";
import { availableParallelism } from "node:os";
import { AnchorError } from "../../../tensor/errors.js";

/** The slice of the WebAssembly JS API used here (the project's TS lib has no DOM types). */
interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Memory: new (d: { initial: number; maximum: number; shared: true }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => { exports: Record<string, (...args: number[]) => void> };
}
const WA = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit; only what is used is committed
/**
 * Control words. A job's units are claimed through NEXT, which holds the
 * job's tag (its generation, 11 bits) above the next unit index (20 bits):
 * a thread that wakes late for a finished job sees another tag and claims
 * nothing, so the main thread never waits on a thread that has no unit.
 */
const GEN = 0,
  TABLE = 1,
  COUNT = 2,
  NEXT = 3,
  FINISHED = 4,
  FAILED = 5,
  LOADED = 6,
  READY = 16;
const INDEX_BITS = 20,
  INDEX_MASK = (1 << INDEX_BITS) - 1;
const tagOf = (gen: number) => (gen & 0x7ff) << INDEX_BITS;
/** Arguments of one unit (after the scratch pointer): kernel index, then its i32 arguments. */
export const UNIT_ARGS = 14;
export const UNIT_WORDS = UNIT_ARGS + 1;

/** The helper thread's whole program. Plain JS, evaluated as a CommonJS script. */
const WORKER_SOURCE = `
const { workerData, receiveMessageOnPort } = require("node:worker_threads");
const { memory, modules, names, scratch, ready, port } = workerData;
const kernels = [];
const instantiate = (m, exports) => {
  const ex = new WebAssembly.Instance(m, { env: { memory } }).exports;
  for (const n of exports) kernels.push(ex[n]);
};
modules.forEach((m, i) => instantiate(m, names[i]));
let loaded = 0;
const ctrl = new Int32Array(memory.buffer, 0, ${PAGE / 4});
Atomics.store(ctrl, ready, 1);
Atomics.notify(ctrl, ready);
let seen = 0;
for (;;) {
  Atomics.wait(ctrl, ${GEN}, seen);
  const gen = Atomics.load(ctrl, ${GEN});
  if (gen === seen) continue;
  seen = gen;
  // the sets loaded since the last job were posted before this job began
  for (const want = Atomics.load(ctrl, ${LOADED}); loaded < want; ) {
    const msg = receiveMessageOnPort(port);
    if (msg) {
      instantiate(msg.message.module, msg.message.exports);
      loaded++;
    }
  }
  const tag = (gen & 0x7ff) << ${INDEX_BITS};
  const table = Atomics.load(ctrl, ${TABLE}) >>> 2, count = Atomics.load(ctrl, ${COUNT});
  const heap = new Int32Array(memory.buffer);
  for (;;) {
    const v = Atomics.load(ctrl, ${NEXT});
    if ((v & ~${INDEX_MASK}) !== tag || (v & ${INDEX_MASK}) >= count) break;
    if (Atomics.compareExchange(ctrl, ${NEXT}, v, v + 1) !== v) continue;
    const u = table + (v & ${INDEX_MASK}) * ${UNIT_WORDS};
    try {
      kernels[heap[u]](scratch, heap[u + 1], heap[u + 2], heap[u + 3], heap[u + 4], heap[u + 5], heap[u + 6], heap[u + 7],
        heap[u + 8], heap[u + 9], heap[u + 10], heap[u + 11], heap[u + 12], heap[u + 13], heap[u + 14]);
    } catch (e) {
      Atomics.store(ctrl, ${FAILED}, 1);
    }
    Atomics.add(ctrl, ${FINISHED}, 1);
    Atomics.notify(ctrl, ${FINISHED});
  }
}
`;

export interface KernelSet {
  /** Its name, for `kernel(set, fn)`. */
  readonly name: string;
  /** Compiled module bytes. */
  readonly bytes: Uint8Array;
  /** Exported functions that units may call, in order. */
  readonly exports: readonly string[];
}

/** A unit: index into the flattened exports of all kernel sets, and its arguments after the scratch pointer. */
export interface Unit {
  readonly kernel: number;
  readonly args: readonly number[];
}

export class WasmThreads {
  readonly memory: WasmMemory;
  /** Flattened exports, as the units index them. */
  private readonly kernels: ((...args: number[]) => void)[] = [];
  private readonly index = new Map<string, number>();
  /** The port of each worker that came up, for kernel sets loaded later. */
  private readonly workers: MessagePort[] = [];
  private readonly sets = new Set<string>();
  private loaded = 0;
  private readonly ctrl: Int32Array;
  /** Byte offset of each thread's scratch; thread 0 is the main thread. */
  readonly scratch: number[] = [];
  readonly arenaBase: number;
  private gen = 0;

  constructor(
    sets: readonly KernelSet[],
    readonly scratchBytes: number,
    threads: number,
  ) {
    if (!WA) throw new AnchorError("WebAssembly is not available in this runtime");
    const perThread = align(scratchBytes, PAGE);
    this.arenaBase = PAGE + threads * perThread;
    this.memory = new WA.Memory({ initial: this.arenaBase / PAGE, maximum: MAX_PAGES, shared: true });
    for (let t = 0; t < threads; t++) this.scratch.push(PAGE + t * perThread);
    this.ctrl = new Int32Array(this.memory.buffer, 0, PAGE / 4);
    const modules = sets.map((s) => new WA.Module(s.bytes));
    modules.forEach((m, i) => this.instantiate(sets[i]!, m));
    const names = sets.map((s) => s.exports);
    for (let t = 1; t < threads; t++) this.startWorker(t, modules, names);
  }

  private instantiate(set: KernelSet, m: object): void {
    this.sets.add(set.name);
    const ex = new WA!.Instance(m, { env: { memory: this.memory } }).exports;
    for (const n of set.exports) {
      this.index.set(`${set.name}.${n}`, this.kernels.length);
      this.kernels.push(ex[n]!);
    }
  }

  /**
   * Load a kernel set after start-up, on this thread now and on each worker
   * before it claims a unit of the next job. Names must be new.
   */
  load(set: KernelSet): void {
    if (this.sets.has(set.name)) throw new AnchorError(`wasm kernels: kernel set "${set.name}" is already loaded`);
    const m = new WA!.Module(set.bytes);
    this.instantiate(set, m);
    for (const port of this.workers) port.postMessage({ module: m, exports: set.exports });
    Atomics.store(this.ctrl, LOADED, ++this.loaded);
  }

  /** The unit kernel index of export `fn` of kernel set `set`. */
  kernel(set: string, fn: string): number {
    const k = this.index.get(`${set}.${fn}`);
    if (k === undefined) throw new AnchorError(`wasm kernels: no export "${fn}" in kernel set "${set}"`);
    return k;
  }

  /** Threads that take part in a job: the main thread plus the workers that came up. */
  get threads(): number {
    return 1 + this.workers.length;
  }

  private startWorker(t: number, modules: object[], names: readonly (readonly string[])[]): void {
    const ready = READY + t;
    let w: Worker;
    const { port1, port2 } = new MessageChannel();
    try {
      w = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { memory: this.memory, modules, names, scratch: this.scratch[t], ready, port: port2 },
        transferList: [port2],
      });
    } catch {
      return; // no worker threads here: run on the main thread alone
    }
    w.unref();
    // Workers start on their own thread, so a blocked main thread does not delay them.
    const ok = Atomics.wait(this.ctrl, ready, 0, 10_000) !== "timed-out" || Atomics.load(this.ctrl, ready) === 1;
    port1.unref();
    if (ok) this.workers.push(port1);
    else void w.terminate();
  }

  /** Make the memory at least `bytes` long; views taken before must be re-taken. */
  ensure(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (bytes > have) {
      const pages = Math.ceil((bytes - have) / PAGE);
      if (have / PAGE + pages > MAX_PAGES)
        throw new AnchorError(`wasm kernels: ${bytes} bytes of working memory exceed the 4 GiB wasm32 limit`);
      this.memory.grow(pages);
    }
  }

  /**
   * `run` with the unit table in a transient block of `heap`; a job for the
   * main thread alone calls the kernels directly (no table, no atomics: a
   * few microseconds, which is what a small kernel costs).
   */
  runUnits(
    heap: { alloc(bytes: number, transient: boolean): { ptr: number; size: number } | null; free(b: { ptr: number; size: number }): void },
    units: readonly Unit[],
    parallel = true,
  ): void {
    if (!parallel || this.workers.length === 0) {
      for (const u of units) {
        if (u.args.length > UNIT_ARGS)
          throw new AnchorError(`wasm kernels: a unit has ${u.args.length} arguments, at most ${UNIT_ARGS} fit`);
        this.kernels[u.kernel]!(this.scratch[0]!, ...u.args);
      }
      return;
    }
    const table = heap.alloc(Math.max(1, units.length) * UNIT_WORDS * 4, true)!;
    try {
      this.run(units, table.ptr, parallel);
    } finally {
      heap.free(table);
    }
  }

  /**
   * Run every unit (laid out from byte offset `table` on), on the workers
   * too when `parallel`, and return when all are done.
   */
  run(units: readonly Unit[], table: number, parallel = true): void {
    const n = units.length;
    if (n > INDEX_MASK) throw new AnchorError(`wasm kernels: ${n} units in one job, at most ${INDEX_MASK}`);
    this.ensure(table + n * UNIT_WORDS * 4);
    const heap = new Int32Array(this.memory.buffer);
    let at = table >>> 2; // byte addresses pass 2^31 once the heap is past 2 GiB
    for (const u of units) {
      if (u.args.length > UNIT_ARGS) throw new AnchorError(`wasm kernels: a unit has ${u.args.length} arguments, at most ${UNIT_ARGS} fit`);
      heap[at] = u.kernel;
      heap.set(u.args, at + 1);
      at += UNIT_WORDS;
    }
    const gen = ++this.gen,
      tag = tagOf(gen);
    // order matters: a late thread that reads the new COUNT must already see the new tag
    Atomics.store(this.ctrl, FINISHED, 0);
    Atomics.store(this.ctrl, FAILED, 0);
    Atomics.store(this.ctrl, NEXT, tag);
    Atomics.store(this.ctrl, TABLE, table);
    Atomics.store(this.ctrl, COUNT, n);
    if (parallel && this.workers.length > 0) {
      Atomics.store(this.ctrl, GEN, gen);
      Atomics.notify(this.ctrl, GEN);
    }
    let error: unknown = null;
    for (;;) {
      const v = Atomics.load(this.ctrl, NEXT),
        i = v & INDEX_MASK;
      if (i >= n) break;
      if (Atomics.compareExchange(this.ctrl, NEXT, v, v + 1) !== v) continue;
      try {
        this.kernels[units[i]!.kernel]!(this.scratch[0]!, ...units[i]!.args);
      } catch (e) {
        error ??= e;
      }
      Atomics.add(this.ctrl, FINISHED, 1);
    }
    for (let f = Atomics.load(this.ctrl, FINISHED); f < n; f = Atomics.load(this.ctrl, FINISHED)) Atomics.wait(this.ctrl, FINISHED, f);
    if (error) throw error;
    if (Atomics.load(this.ctrl, FAILED)) throw new AnchorError("wasm kernels: a worker thread failed while running a kernel");
  }
}

export function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/** Threads to use: ANCHORGRAD_THREADS, else the cores Node reports. */
export function defaultThreadCount(): number {
  const env = Number(process.env.ANCHORGRAD_THREADS);
  if (Number.isInteger(env) && env >= 1) return env;
  return Math.max(1, Math.min(availableParallelism(), 16));
}

export const wasmAvailable = (): boolean => WA !== undefined;

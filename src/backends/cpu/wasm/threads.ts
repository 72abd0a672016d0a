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
 * Memory layout: [control page][per-thread scratch][arena]. The arena is
 * reused by every call (one call at a time: JS is single-threaded here).
 */
import { Worker } from "node:worker_threads";
import { availableParallelism } from "node:os";
import { AnchorError } from "../../../tensor/errors.js";

/** The slice of the WebAssembly JS API used here (the project's TS lib has no DOM types). */
interface WasmMemory { readonly buffer: SharedArrayBuffer; grow(pages: number): number }
interface WasmApi {
  Memory: new (d: { initial: number; maximum: number; shared: true }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => { exports: Record<string, (...args: number[]) => void> };
}
const WA = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit; only what is used is committed
/** i32 slots per thread in the control page. */
const SLOT = 16;
const GEN = 0, DONE = 1, STATUS = 2, READY = 3;
/** Job words, in the main thread's slot: unit table address, unit count, next unclaimed unit. */
const TABLE = 4, COUNT = 5, NEXT = 6;
/** Arguments of one unit (after the scratch pointer): kernel index, then its i32 arguments. */
export const UNIT_ARGS = 14;
export const UNIT_WORDS = UNIT_ARGS + 1;

/** The helper thread's whole program. Plain JS, evaluated as a CommonJS script. */
const WORKER_SOURCE = `
const { workerData } = require("node:worker_threads");
const { memory, modules, slot, names, scratch } = workerData;
const kernels = [];
modules.forEach((m, i) => {
  const ex = new WebAssembly.Instance(m, { env: { memory } }).exports;
  for (const n of names[i]) kernels.push(ex[n]);
});
const ctrl = new Int32Array(memory.buffer, 0, ${PAGE / 4});
Atomics.store(ctrl, slot + ${READY}, 1);
Atomics.notify(ctrl, slot + ${READY});
let seen = 0;
for (;;) {
  Atomics.wait(ctrl, slot + ${GEN}, seen);
  const gen = Atomics.load(ctrl, slot + ${GEN});
  if (gen === seen) continue;
  seen = gen;
  let status = 0;
  try {
    const heap = new Int32Array(memory.buffer);
    const table = Atomics.load(ctrl, ${TABLE}) >>> 2, count = Atomics.load(ctrl, ${COUNT});
    for (let i = Atomics.add(ctrl, ${NEXT}, 1); i < count; i = Atomics.add(ctrl, ${NEXT}, 1)) {
      const u = table + i * ${UNIT_WORDS};
      kernels[heap[u]](scratch, heap[u + 1], heap[u + 2], heap[u + 3], heap[u + 4], heap[u + 5], heap[u + 6], heap[u + 7],
        heap[u + 8], heap[u + 9], heap[u + 10], heap[u + 11], heap[u + 12], heap[u + 13], heap[u + 14]);
    }
  } catch (e) {
    status = 1;
  }
  Atomics.store(ctrl, slot + ${STATUS}, status);
  Atomics.store(ctrl, slot + ${DONE}, gen);
  Atomics.notify(ctrl, slot + ${DONE});
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
export interface Unit { readonly kernel: number; readonly args: readonly number[] }

export class WasmThreads {
  readonly memory: WasmMemory;
  /** Flattened exports, as the units index them. */
  private readonly kernels: ((...args: number[]) => void)[] = [];
  private readonly index = new Map<string, number>();
  private readonly workers: Worker[] = [];
  private readonly ctrl: Int32Array;
  /** Byte offset of each thread's scratch; thread 0 is the main thread. */
  readonly scratch: number[] = [];
  readonly arenaBase: number;
  private gen = 0;

  constructor(sets: readonly KernelSet[], readonly scratchBytes: number, threads: number) {
    if (!WA) throw new AnchorError("WebAssembly is not available in this runtime");
    const perThread = align(scratchBytes, PAGE);
    this.arenaBase = PAGE + threads * perThread;
    this.memory = new WA.Memory({ initial: this.arenaBase / PAGE, maximum: MAX_PAGES, shared: true });
    for (let t = 0; t < threads; t++) this.scratch.push(PAGE + t * perThread);
    this.ctrl = new Int32Array(this.memory.buffer, 0, PAGE / 4);
    const modules = sets.map((s) => new WA.Module(s.bytes));
    modules.forEach((m, i) => {
      const ex = new WA.Instance(m, { env: { memory: this.memory } }).exports;
      for (const n of sets[i]!.exports) {
        this.index.set(`${sets[i]!.name}.${n}`, this.kernels.length);
        this.kernels.push(ex[n]!);
      }
    });
    const names = sets.map((s) => s.exports);
    for (let t = 1; t < threads; t++) this.startWorker(t, modules, names);
  }

  /** The unit kernel index of export `fn` of kernel set `set`. */
  kernel(set: string, fn: string): number {
    const k = this.index.get(`${set}.${fn}`);
    if (k === undefined) throw new AnchorError(`wasm kernels: no export "${fn}" in kernel set "${set}"`);
    return k;
  }

  /** Threads that take part in a job: the main thread plus the workers that came up. */
  get threads(): number { return 1 + this.workers.length; }

  private startWorker(t: number, modules: object[], names: readonly (readonly string[])[]): void {
    const slot = t * SLOT;
    let w: Worker;
    try {
      w = new Worker(WORKER_SOURCE, { eval: true, workerData: { memory: this.memory, modules, slot, names, scratch: this.scratch[t] } });
    } catch {
      return; // no worker threads here: run on the main thread alone
    }
    w.unref();
    // Workers start on their own thread, so a blocked main thread does not delay them.
    const ok = Atomics.wait(this.ctrl, slot + READY, 0, 10_000) !== "timed-out" || Atomics.load(this.ctrl, slot + READY) === 1;
    if (ok) this.workers.push(w);
    else void w.terminate();
  }

  /** Make the memory at least `bytes` long; views taken before must be re-taken. */
  ensure(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (bytes > have) {
      const pages = Math.ceil((bytes - have) / PAGE);
      if (have / PAGE + pages > MAX_PAGES) throw new AnchorError(`wasm kernels: ${bytes} bytes of working memory exceed the 4 GiB wasm32 limit`);
      this.memory.grow(pages);
    }
  }

  /** `run` with the unit table in a transient block of `heap`. */
  runUnits(heap: { alloc(bytes: number, transient: boolean): { ptr: number; size: number } | null; free(b: { ptr: number; size: number }): void }, units: readonly Unit[], threads = this.threads): void {
    const table = heap.alloc(Math.max(1, units.length) * UNIT_WORDS * 4, true)!;
    try { this.run(units, table.ptr, threads); } finally { heap.free(table); }
  }

  /**
   * Run every unit (laid out from byte offset `table` on) on up to `threads`
   * threads, and return when all are done.
   */
  run(units: readonly Unit[], table: number, threads = this.threads): void {
    this.ensure(table + units.length * UNIT_WORDS * 4);
    const heap = new Int32Array(this.memory.buffer);
    let at = table >>> 2; // unsigned: tables may sit above 2 GiB
    for (const u of units) {
      if (u.args.length > UNIT_ARGS) throw new AnchorError(`wasm kernels: a unit has ${u.args.length} arguments, at most ${UNIT_ARGS} fit`);
      heap[at] = u.kernel;
      heap.set(u.args, at + 1);
      at += UNIT_WORDS;
    }
    this.ctrl[TABLE] = table;
    this.ctrl[COUNT] = units.length;
    Atomics.store(this.ctrl, NEXT, 0);
    const gen = ++this.gen;
    const helpers = this.workers.slice(0, Math.max(0, Math.min(threads, units.length) - 1)).map((_, i) => (i + 1) * SLOT);
    for (const slot of helpers) {
      Atomics.store(this.ctrl, slot + GEN, gen);
      Atomics.notify(this.ctrl, slot + GEN);
    }
    const scratch = this.scratch[0]!;
    for (let i = Atomics.add(this.ctrl, NEXT, 1); i < units.length; i = Atomics.add(this.ctrl, NEXT, 1)) {
      this.kernels[units[i]!.kernel]!(scratch, ...units[i]!.args);
    }
    let failed = false;
    for (const slot of helpers) {
      for (;;) {
        const d = Atomics.load(this.ctrl, slot + DONE);
        if (d === gen) break;
        Atomics.wait(this.ctrl, slot + DONE, d);
      }
      failed ||= this.ctrl[slot + STATUS] !== 0;
    }
    if (failed) throw new AnchorError("wasm kernels: a worker thread failed while running a kernel");
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

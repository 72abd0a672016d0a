/**
 * The Wasm runtime of the cpu backend: one shared WebAssembly.Memory, the
 * compiled kernels instantiated on the main thread and on helper worker
 * threads over that same memory, and a synchronous fork/join.
 *
 * Kernels on the cpu backend are synchronous, so the join blocks the main
 * thread with Atomics.wait (allowed in Node) instead of awaiting a message.
 * A job is a list of "units" per thread, each one call of an exported
 * kernel with up to UNIT_ARGS i32 arguments, laid out in shared memory; a
 * worker runs its list and bumps its `done` word. Workers are unref'd, so
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
const GEN = 0, DONE = 1, TABLE = 2, COUNT = 3, STATUS = 4, READY = 5;
/** Arguments of one unit: kernel index, then its i32 arguments. */
export const UNIT_ARGS = 15;
export const UNIT_WORDS = UNIT_ARGS + 1;

/** The helper thread's whole program. Plain JS, evaluated as a CommonJS script. */
const WORKER_SOURCE = `
const { workerData } = require("node:worker_threads");
const { memory, modules, slot, names } = workerData;
const kernels = [];
for (const m of modules) {
  const ex = new WebAssembly.Instance(m, { env: { memory } }).exports;
  for (const n of names) kernels.push(ex[n]);
}
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
    let u = Atomics.load(ctrl, slot + ${TABLE}) >> 2;
    for (let n = Atomics.load(ctrl, slot + ${COUNT}); n > 0; n--, u += ${UNIT_WORDS}) {
      kernels[heap[u]](heap[u + 1], heap[u + 2], heap[u + 3], heap[u + 4], heap[u + 5], heap[u + 6], heap[u + 7],
        heap[u + 8], heap[u + 9], heap[u + 10], heap[u + 11], heap[u + 12], heap[u + 13], heap[u + 14], heap[u + 15]);
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
  /** Compiled module bytes. */
  readonly bytes: Uint8Array;
  /** Exported functions that units may call, in order. */
  readonly exports: readonly string[];
}

/** A unit: index into the flattened exports of all kernel sets, and its arguments. */
export interface Unit { readonly kernel: number; readonly args: readonly number[] }

export class WasmThreads {
  readonly memory: WasmMemory;
  /** Flattened exports, as the units index them. */
  private readonly kernels: ((...args: number[]) => void)[] = [];
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
      for (const n of sets[i]!.exports) this.kernels.push(ex[n]!);
    });
    const names = sets[0]!.exports;
    if (sets.some((s) => s.exports.join() !== names.join())) throw new AnchorError("wasm kernel sets must export the same names");
    for (let t = 1; t < threads; t++) this.startWorker(t, modules, names);
  }

  /** Threads that take part in a job: the main thread plus the workers that came up. */
  get threads(): number { return 1 + this.workers.length; }

  private startWorker(t: number, modules: object[], names: readonly string[]): void {
    const slot = t * SLOT;
    let w: Worker;
    try {
      w = new Worker(WORKER_SOURCE, { eval: true, workerData: { memory: this.memory, modules, slot, names } });
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

  /**
   * Run `perThread[t]` on thread t (units laid out at byte offset `table`
   * onwards, which must have room for all of them) and wait for all.
   */
  run(perThread: readonly (readonly Unit[])[], table: number): void {
    if (perThread.length > this.threads) throw new AnchorError(`wasm kernels: ${perThread.length} unit lists for ${this.threads} threads`);
    const words = perThread.reduce((n, u) => n + u.length, 0) * UNIT_WORDS;
    this.ensure(table + words * 4);
    const heap = new Int32Array(this.memory.buffer);
    const gen = ++this.gen;
    let at = table >> 2;
    const started: number[] = [];
    for (let t = 1; t < perThread.length; t++) {
      const units = perThread[t]!;
      if (units.length === 0) continue;
      const slot = t * SLOT;
      this.ctrl[slot + TABLE] = at << 2;
      this.ctrl[slot + COUNT] = units.length;
      for (const u of units) { heap[at] = u.kernel; heap.set(u.args, at + 1); at += UNIT_WORDS; }
      Atomics.store(this.ctrl, slot + GEN, gen);
      Atomics.notify(this.ctrl, slot + GEN);
      started.push(slot);
    }
    for (const u of perThread[0] ?? []) this.kernels[u.kernel]!(...u.args);
    let failed = false;
    for (const slot of started) {
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

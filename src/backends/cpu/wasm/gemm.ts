/**
 * Batched matmul on the Wasm SIMD GEMM, split over threads.
 *
 * Operands live in JS typed arrays, so each call stages them into the shared
 * Wasm memory (memcpy speed; a few percent of the GEMM at n = 1024), runs the
 * kernel on every thread, and copies C back. A call is cut into "items"
 * (one output block C[t][m0:m1, n0:n1] over k0:k1); items are packed into
 * jobs whose staging fits STAGING_BYTES, so a 151k-wide LM head or a long
 * batch streams through a bounded arena. Each distinct A or B block is staged
 * once per job, so a weight broadcast over the batch is copied once.
 */
import type { MatmulPlan } from "../matmul.js";
import { buildGemmModule, DEFAULT_TILES, workspaceBytes, type FloatKind } from "./gemm-module.js";
import { align, defaultThreadCount, WasmThreads, type Unit } from "./threads.js";

type Arr = Float32Array | Float64Array;

/** Upper bound on staged operands per job. */
let STAGING_BYTES = 256 << 20;

/** Change the staging bound (tests use a small one to reach the tiled paths); returns the previous one. */
export function setStagingLimit(bytes: number): number {
  const prev = STAGING_BYTES;
  STAGING_BYTES = bytes;
  return prev;
}
/** Below this many multiply-adds a call runs on the main thread only (a worker wake-up costs ~20-50 µs). */
const PARALLEL_MIN_MACS = 1 << 19;
/** Pieces a lone product is cut into per thread (each piece re-packs the operand it shares, a few % at n = 1024). */
const PIECES_PER_THREAD = 3;

const KINDS: readonly FloatKind[] = ["f32", "f64"];

let runtime: WasmThreads | null = null;

/** The shared runtime, created on first use. */
export function gemmRuntime(): WasmThreads {
  if (!runtime) {
    const scratch = Math.max(...KINDS.map((k) => workspaceBytes(k, DEFAULT_TILES[k])));
    const sets = KINDS.map((k) => ({ bytes: buildGemmModule(k, DEFAULT_TILES[k], { initialPages: 1, maxPages: 65536 }), exports: ["gemm"] }));
    runtime = new WasmThreads(sets, scratch, defaultThreadCount());
  }
  return runtime;
}

const kindOf = (a: Arr): FloatKind => (a instanceof Float32Array ? "f32" : "f64");

/** One output block: C[t][m0:m1, n0:n1] (+)= A[ia][m0:m1, k0:k1] B[ib][k0:k1, n0:n1]. */
interface Item { t: number; ia: number; ib: number; m0: number; m1: number; n0: number; n1: number; k0: number; k1: number }

/** A staged block: where its rows went in Wasm memory and their stride. */
interface Staged { ptr: number; ld: number }

/**
 * C[t] = A[aIndex[t]] · B[bIndex[t]] for every batch entry t, all row-major
 * and contiguous, A, B and C of one float type.
 */
export function wasmMatmul(A: Arr, B: Arr, C: Arr, plan: MatmulPlan): void {
  const { M, K, N, batch } = plan;
  if (M === 0 || N === 0 || batch === 0) return;
  if (K === 0) { C.fill(0); return; }
  const rt = gemmRuntime();
  const e = A.BYTES_PER_ELEMENT;
  const [Mt, Nt, Kt] = tileFor(M, K, N, e);
  const items: Item[] = [];
  for (let t = 0; t < batch; t++) {
    const ia = plan.aIndex ? plan.aIndex[t]! : t, ib = plan.bIndex ? plan.bIndex[t]! : t;
    for (let m0 = 0; m0 < M; m0 += Mt) {
      for (let n0 = 0; n0 < N; n0 += Nt) {
        for (let k0 = 0; k0 < K; k0 += Kt) {
          items.push({ t, ia, ib, m0, m1: Math.min(M, m0 + Mt), n0, n1: Math.min(N, n0 + Nt), k0, k1: Math.min(K, k0 + Kt) });
        }
      }
    }
  }
  const job = new Job(rt, A, B, C, plan);
  for (const it of items) {
    if (it.k0 > 0 || !job.fits(it)) job.flush(); // a K-split block reads what the previous job wrote
    job.add(it);
  }
  job.flush();
}

/** The largest (Mt, Nt, Kt) block, from the full problem down, whose staging fits. */
function tileFor(M: number, K: number, N: number, e: number): [number, number, number] {
  let m = M, n = N, k = K;
  const bytes = () => (m * k + k * n + m * n) * e;
  while (bytes() > STAGING_BYTES && (m > 16 || n > 16 || k > 16)) {
    if (n >= m && n >= k) n = align(Math.ceil(n / 2), 16);
    else if (k >= m) k = align(Math.ceil(k / 2), 16);
    else m = align(Math.ceil(m / 2), 16);
  }
  return [m, n, k];
}

class Job {
  private items: Item[] = [];
  private staged = new Map<string, Staged>();
  private top: number;

  constructor(private readonly rt: WasmThreads, private readonly A: Arr, private readonly B: Arr, private readonly C: Arr, private readonly plan: MatmulPlan) {
    this.top = rt.arenaBase;
  }

  private cost(it: Item): number {
    const e = this.A.BYTES_PER_ELEMENT, m = it.m1 - it.m0, n = it.n1 - it.n0, k = it.k1 - it.k0;
    return (m * k + k * n + m * n) * e + 64 * 3;
  }

  fits(it: Item): boolean {
    return this.items.length === 0 || this.top + this.cost(it) - this.rt.arenaBase <= STAGING_BYTES;
  }

  add(it: Item): void {
    const { M, K, N } = this.plan;
    this.stage(`a${it.ia},${it.m0},${it.k0}`, this.A, it.ia * M * K, K, it.m0, it.m1, it.k0, it.k1);
    this.stage(`b${it.ib},${it.k0},${it.n0}`, this.B, it.ib * K * N, N, it.k0, it.k1, it.n0, it.n1);
    // C is read back only when accumulating over a K split
    const c = this.reserve(`c${it.t},${it.m0},${it.n0}`, it.m1 - it.m0, it.n1 - it.n0);
    if (it.k0 > 0) this.copyIn(this.C, it.t * M * N, N, it.m0, it.m1, it.n0, it.n1, c);
    this.items.push(it);
  }

  private reserve(key: string, rows: number, cols: number): Staged {
    const s = { ptr: align(this.top, 64), ld: cols };
    this.top = s.ptr + rows * cols * this.A.BYTES_PER_ELEMENT;
    this.rt.ensure(this.top);
    this.staged.set(key, s);
    return s;
  }

  private stage(key: string, src: Arr, base: number, ld: number, r0: number, r1: number, c0: number, c1: number): void {
    if (this.staged.has(key)) return;
    this.copyIn(src, base, ld, r0, r1, c0, c1, this.reserve(key, r1 - r0, c1 - c0));
  }

  private heap(): Arr {
    return this.A instanceof Float32Array ? new Float32Array(this.rt.memory.buffer) : new Float64Array(this.rt.memory.buffer);
  }

  private copyIn(src: Arr, base: number, ld: number, r0: number, r1: number, c0: number, c1: number, dst: Staged): void {
    const heap = this.heap(), e = this.A.BYTES_PER_ELEMENT, at = dst.ptr / e, w = c1 - c0;
    if (w === ld) { heap.set(src.subarray(base + r0 * ld, base + r1 * ld), at); return; }
    for (let r = r0; r < r1; r++) heap.set(src.subarray(base + r * ld + c0, base + r * ld + c1), at + (r - r0) * w);
  }

  flush(): void {
    if (this.items.length === 0) return;
    const { M, N } = this.plan;
    const e = this.A.BYTES_PER_ELEMENT, kernel = KINDS.indexOf(kindOf(this.A));
    const get = (k: string) => this.staged.get(k)!;
    const units = this.items.map((it) => ({
      it,
      a: get(`a${it.ia},${it.m0},${it.k0}`), b: get(`b${it.ib},${it.k0},${it.n0}`), c: get(`c${it.t},${it.m0},${it.n0}`),
    }));
    const macs = this.items.reduce((s, it) => s + (it.m1 - it.m0) * (it.n1 - it.n0) * (it.k1 - it.k0), 0);
    const threads = macs < PARALLEL_MIN_MACS ? 1 : this.rt.threads;
    // a few pieces per thread, so that a thread that loses its core is covered by the others
    const pieces = threads === 1 || units.length >= 4 * threads ? 1 : Math.ceil((PIECES_PER_THREAD * threads) / units.length);
    const work: Unit[] = [];
    for (const u of units) {
      const m = u.it.m1 - u.it.m0, n = u.it.n1 - u.it.n0, k = u.it.k1 - u.it.k0;
      for (const [r0, r1, c0, c1] of split(m, n, pieces)) {
        work.push({
          kernel,
          args: [u.a.ptr + r0 * u.a.ld * e, u.b.ptr + c0 * e, u.c.ptr + (r0 * u.c.ld + c0) * e, r1 - r0, k, c1 - c0, u.a.ld, u.b.ld, u.c.ld, u.it.k0 > 0 ? 1 : 0],
        });
      }
    }
    this.rt.run(work, align(this.top, 64), threads);
    const heap = this.heap();
    for (const u of units) {
      const { t, m0, m1, n0, n1 } = u.it, w = n1 - n0, at = u.c.ptr / e;
      if (w === N) this.C.set(heap.subarray(at, at + (m1 - m0) * N), t * M * N + m0 * N);
      else for (let r = m0; r < m1; r++) this.C.set(heap.subarray(at + (r - m0) * w, at + (r - m0 + 1) * w), t * M * N + r * N + n0);
    }
    this.items = [];
    this.staged.clear();
    this.top = this.rt.arenaBase;
  }
}

/**
 * Cut an m x n block into `pieces` parts along its longer side, at multiples
 * of 16 so that parts keep whole micro-tiles. Returns [r0, r1, c0, c1] each.
 */
function split(m: number, n: number, pieces: number): [number, number, number, number][] {
  const byCols = n >= m, len = byCols ? n : m;
  const step = Math.max(16, align(Math.ceil(len / pieces), 16));
  const out: [number, number, number, number][] = [];
  for (let s = 0; s < len; s += step) {
    const e = Math.min(len, s + step);
    out.push(byCols ? [0, m, s, e] : [s, e, 0, n]);
  }
  return out;
}

/**
 * Batched matmul on the Wasm SIMD GEMM, split over threads.
 *
 * Operands that live in the Wasm heap (cpu buffers do, up to its cap) are
 * used in place; others are staged into it (memcpy speed; a few percent of
 * the GEMM at n = 1024), and a C outside it is copied back. A call is cut
 * into "items" (one output block C[t][m0:m1, n0:n1] over k0:k1); items are
 * packed into jobs whose staging fits the staging bound, so a 151k-wide LM
 * head or a long batch outside the heap streams through bounded memory.
 * Each distinct A or B block is staged once per job, so a weight broadcast
 * over the batch is copied once.
 */
import type { MatmulPlan } from "../gemm-plan.js";
import type { FloatKind } from "./gemm-module.js";
import { inWasmMemory, type Block } from "./heap.js";
import { wasmRuntime, type WasmRuntime } from "./runtime.js";
import { align, type Unit } from "./threads.js";

type Arr = Float32Array | Float64Array;

/** Upper bound on staged operands per job. */
let stagingBytes = 256 << 20;

/** Change the staging bound (tests use a small one to reach the tiled paths); returns the previous one. */
export function setStagingLimit(bytes: number): number {
  const prev = stagingBytes;
  stagingBytes = bytes;
  return prev;
}

/**
 * Below this many multiply-adds a call runs on the main thread only: a
 * worker wake-up costs ~20-50 µs, and on 2 cores threads only pay from
 * about 4M multiply-adds on (measured; at 0.5M they made a product 1.3x slower).
 */
const PARALLEL_MIN_MACS = 1 << 22;
/** Pieces a lone product is cut into per thread (each piece re-packs the operand it shares, a few % at n = 1024). */
const PIECES_PER_THREAD = 3;

const kindOf = (a: Arr): FloatKind => (a instanceof Float32Array ? "f32" : "f64");

/** One output block: C[t][m0:m1, n0:n1] (+)= A[ia][m0:m1, k0:k1] B[ib][k0:k1, n0:n1]. */
interface Item {
  t: number;
  ia: number;
  ib: number;
  m0: number;
  m1: number;
  n0: number;
  n1: number;
  k0: number;
  k1: number;
}

/** A staged block: where its rows went in Wasm memory and their stride. */
interface Staged {
  ptr: number;
  ld: number;
}

/**
 * C[t] = op(A[aIndex[t]]) · op(B[bIndex[t]]) for every batch entry t, as
 * the plan says, A, B and C of one float type.
 */
export function wasmMatmul(A: Arr, B: Arr, C: Arr, plan: MatmulPlan): void {
  const { M, K, N, batch } = plan;
  if (M === 0 || N === 0 || batch === 0) return;
  if (K === 0) {
    C.fill(0);
    return;
  }
  const rt = wasmRuntime();
  const e = A.BYTES_PER_ELEMENT;
  const [Mt, Nt, Kt] = tileFor(M, K, N, e, [A, B, C].map((x) => !inWasmMemory(x)) as [boolean, boolean, boolean]);
  const items: Item[] = [];
  for (let t = 0; t < batch; t++) {
    const ia = plan.aIndex ? plan.aIndex[t]! : t,
      ib = plan.bIndex ? plan.bIndex[t]! : t;
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

/** The largest (Mt, Nt, Kt) block, from the full problem down, whose staging (of A, B, C where flagged) fits. */
function tileFor(M: number, K: number, N: number, e: number, [sa, sb, sc]: [boolean, boolean, boolean]): [number, number, number] {
  let m = M,
    n = N,
    k = K;
  const bytes = () => ((sa ? m * k : 0) + (sb ? k * n : 0) + (sc ? m * n : 0)) * e;
  while (bytes() > stagingBytes && (m > 16 || n > 16 || k > 16)) {
    if (n >= m && n >= k) n = align(Math.ceil(n / 2), 16);
    else if (k >= m) k = align(Math.ceil(k / 2), 16);
    else m = align(Math.ceil(m / 2), 16);
  }
  return [m, n, k];
}

class Job {
  private items: Item[] = [];
  private staged = new Map<string, Staged>();
  private blocks: Block[] = [];
  private stagedBytes = 0;
  private readonly e: number;

  constructor(
    private readonly rt: WasmRuntime,
    private readonly A: Arr,
    private readonly B: Arr,
    private readonly C: Arr,
    private readonly plan: MatmulPlan,
  ) {
    this.e = A.BYTES_PER_ELEMENT;
  }

  /** Bytes an item would stage: only operands outside the Wasm memory are copied. */
  private cost(it: Item): number {
    const m = it.m1 - it.m0,
      n = it.n1 - it.n0,
      k = it.k1 - it.k0;
    return ((inWasmMemory(this.A) ? 0 : m * k) + (inWasmMemory(this.B) ? 0 : k * n) + (inWasmMemory(this.C) ? 0 : m * n)) * this.e;
  }

  fits(it: Item): boolean {
    return this.items.length === 0 || this.stagedBytes + this.cost(it) <= stagingBytes;
  }

  add(it: Item): void {
    const { M, K, N, transposeA, transposeB } = this.plan;
    // blocks are placed in stored coordinates: a transposed A is stored K x M, a transposed B N x K
    const a = `a${it.ia},${it.m0},${it.k0}`,
      b = `b${it.ib},${it.k0},${it.n0}`;
    if (transposeA) this.place(a, this.A, it.ia * M * K, M, it.k0, it.k1, it.m0, it.m1, true);
    else this.place(a, this.A, it.ia * M * K, K, it.m0, it.m1, it.k0, it.k1, true);
    if (transposeB) this.place(b, this.B, it.ib * K * N, K, it.n0, it.n1, it.k0, it.k1, true);
    else this.place(b, this.B, it.ib * K * N, N, it.k0, it.k1, it.n0, it.n1, true);
    // C's old values are read only when accumulating over a K split
    this.place(`c${it.t},${it.m0},${it.n0}`, this.C, it.t * M * N, N, it.m0, it.m1, it.n0, it.n1, it.k0 > 0);
    this.items.push(it);
  }

  /** Where block [r0:r1, c0:c1] of the ld-strided matrix at `base` of `src` is, staging it when it is outside the Wasm memory. */
  private place(key: string, src: Arr, base: number, ld: number, r0: number, r1: number, c0: number, c1: number, copyIn: boolean): void {
    if (this.staged.has(key)) return;
    if (inWasmMemory(src)) {
      this.staged.set(key, { ptr: src.byteOffset + (base + r0 * ld + c0) * this.e, ld });
      return;
    }
    const w = c1 - c0,
      bytes = (r1 - r0) * w * this.e;
    const block = this.rt.heap.alloc(bytes, true)!;
    this.blocks.push(block);
    this.stagedBytes += bytes;
    this.staged.set(key, { ptr: block.ptr, ld: w });
    if (!copyIn) return;
    const heap = this.heap(),
      at = block.ptr / this.e;
    if (w === ld) heap.set(src.subarray(base + r0 * ld, base + r1 * ld), at);
    else for (let r = r0; r < r1; r++) heap.set(src.subarray(base + r * ld + c0, base + r * ld + c1), at + (r - r0) * w);
  }

  private heap(): Arr {
    return this.A instanceof Float32Array
      ? new Float32Array(this.rt.threads.memory.buffer)
      : new Float64Array(this.rt.threads.memory.buffer);
  }

  flush(): void {
    if (this.items.length === 0) return;
    const { M, N, transposeA, transposeB } = this.plan,
      e = this.e;
    const kernel = this.rt.threads.kernel(`gemm.${kindOf(this.A)}`, "gemm");
    const get = (k: string) => this.staged.get(k)!;
    const units = this.items.map((it) => ({
      it,
      a: get(`a${it.ia},${it.m0},${it.k0}`),
      b: get(`b${it.ib},${it.k0},${it.n0}`),
      c: get(`c${it.t},${it.m0},${it.n0}`),
    }));
    const macs = this.items.reduce((s, it) => s + (it.m1 - it.m0) * (it.n1 - it.n0) * (it.k1 - it.k0), 0);
    const threads = macs < PARALLEL_MIN_MACS ? 1 : this.rt.threads.threads;
    // a few pieces per thread, so that a thread that loses its core is covered by the others
    const pieces = threads === 1 || units.length >= 4 * threads ? 1 : Math.ceil((PIECES_PER_THREAD * threads) / units.length);
    const work: Unit[] = [];
    for (const u of units) {
      const m = u.it.m1 - u.it.m0,
        n = u.it.n1 - u.it.n0,
        k = u.it.k1 - u.it.k0;
      // op(A)'s (i, k) and op(B)'s (k, j) as element strides of the staged blocks
      const [rsA, csA] = transposeA ? [1, u.a.ld] : [u.a.ld, 1];
      const [rsB, csB] = transposeB ? [1, u.b.ld] : [u.b.ld, 1];
      for (const [r0, r1, c0, c1] of split(m, n, pieces)) {
        work.push({
          kernel,
          args: [
            u.a.ptr + r0 * rsA * e,
            u.b.ptr + c0 * csB * e,
            u.c.ptr + (r0 * u.c.ld + c0) * e,
            r1 - r0,
            k,
            c1 - c0,
            rsA,
            csA,
            rsB,
            csB,
            u.c.ld,
            u.it.k0 > 0 ? 1 : 0,
          ],
        });
      }
    }
    this.rt.threads.runUnits(this.rt.heap, work, threads > 1);
    if (!inWasmMemory(this.C)) {
      const heap = this.heap();
      for (const u of units) {
        const { t, m0, m1, n0, n1 } = u.it,
          w = n1 - n0,
          at = u.c.ptr / e;
        if (w === N) this.C.set(heap.subarray(at, at + (m1 - m0) * N), t * M * N + m0 * N);
        else for (let r = m0; r < m1; r++) this.C.set(heap.subarray(at + (r - m0) * w, at + (r - m0 + 1) * w), t * M * N + r * N + n0);
      }
    }
    for (const b of this.blocks) this.rt.heap.free(b);
    this.blocks = [];
    this.items = [];
    this.staged.clear();
    this.stagedBytes = 0;
  }
}

/**
 * Cut an m x n block into `pieces` parts along its longer side, at multiples
 * of 16 so that parts keep whole micro-tiles. Returns [r0, r1, c0, c1] each.
 */
function split(m: number, n: number, pieces: number): [number, number, number, number][] {
  const byCols = n >= m,
    len = byCols ? n : m;
  const step = Math.max(16, align(Math.ceil(len / pieces), 16));
  const out: [number, number, number, number][] = [];
  for (let s = 0; s < len; s += step) {
    const e = Math.min(len, s + step);
    out.push(byCols ? [0, m, s, e] : [s, e, 0, n]);
  }
  return out;
}

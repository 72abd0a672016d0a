/**
 * The GEMM as WebAssembly, written by TypeScript (GotoBLAS/BLIS structure):
 *
 *   for jc over N by NC:            B block  [KC x NC] packed into NR-wide panels
 *     for pc over K by KC:
 *       for ic over M by MC:        A block  [MC x KC] packed into MR-tall panels
 *         for jr, ir:               MR x NR micro-kernel, accumulators in registers
 *
 * Packing makes every micro-kernel load contiguous: B's panel as whole
 * vectors, A's as one broadcast per row per k. The micro-kernel keeps the
 * MR x NR tile of C in MR*NR/lanes SIMD registers across the whole KC loop.
 * Without relaxed-simd (behind a flag in Node 20) there is no fused
 * multiply-add, so each step is a mul then an add, each rounded to the
 * element type (the JS GEMM rounds float32 sums once per step, from double).
 *
 * Exported: gemm(ws, a, b, c, M, K, N, rsA, csA, rsB, csB, ldc, accumulate):
 * C[M,N] (+)= A[M,K] B[K,N], where A's element (i, k) is at a + i·rsA + k·csA
 * and B's (k, j) at b + k·rsB + j·csB (so either can be read transposed,
 * in place; packing absorbs the strides), C row-major with row stride ldc.
 * a, b, c, ws are byte addresses, strides in elements, ws a per-thread
 * scratch of `workspaceBytes(tile)`. With accumulate = 0, C is overwritten
 * (its old contents are never read).
 */
import { FunctionBuilder, ModuleBuilder, type Local } from "./encoder.js";

export type FloatKind = "f32" | "f64";

export interface GemmTile {
  /** Rows of C per micro-kernel (A broadcasts). */
  readonly MR: number;
  /** Columns of C per micro-kernel; a multiple of the vector lanes. */
  readonly NR: number;
  readonly KC: number;
  /** A multiple of MR. */
  readonly MC: number;
  /** A multiple of NR. */
  readonly NC: number;
}

/**
 * Chosen by measurement on a 2-core Zen 4 under V8 (Node 20): 2 x 16 keeps 8
 * accumulators + 4 B vectors + 1 broadcast in the 16 xmm registers V8 uses,
 * at ~57 GFLOP/s per core; taller tiles (4 x 8, 6 x 8, 3 x 16) spill and run
 * at 25-50.
 */
export const DEFAULT_TILES: Record<FloatKind, GemmTile> = {
  f32: { MR: 2, NR: 16, KC: 256, MC: 96, NC: 1024 },
  f64: { MR: 2, NR: 8, KC: 256, MC: 96, NC: 512 },
};

interface Elt {
  readonly bytes: number;
  readonly lanes: number;
  load(f: FunctionBuilder, off?: number): void;
  store(f: FunctionBuilder, off?: number): void;
  splat(f: FunctionBuilder, off?: number): void;
  vadd(f: FunctionBuilder): void;
  vmul(f: FunctionBuilder): void;
  sadd(f: FunctionBuilder): void;
  zero(f: FunctionBuilder): void;
}

const ELT: Record<FloatKind, Elt> = {
  f32: {
    bytes: 4,
    lanes: 4,
    load: (f, o) => f.f32Load(o),
    store: (f, o) => f.f32Store(o),
    splat: (f, o) => f.load32Splat(o),
    vadd: (f) => f.f32x4Add(),
    vmul: (f) => f.f32x4Mul(),
    sadd: (f) => f.f32Add(),
    zero: (f) => f.f32Const(0),
  },
  f64: {
    bytes: 8,
    lanes: 2,
    load: (f, o) => f.f64Load(o),
    store: (f, o) => f.f64Store(o),
    splat: (f, o) => f.load64Splat(o),
    vadd: (f) => f.f64x2Add(),
    vmul: (f) => f.f64x2Mul(),
    sadd: (f) => f.f64Add(),
    zero: (f) => f.f64Const(0),
  },
};

/** Scratch one thread needs: packed B block, packed A block, one edge tile. */
export function workspaceBytes(kind: FloatKind, t: GemmTile): number {
  const e = ELT[kind].bytes;
  return (t.KC * t.NC + t.MC * t.KC + t.MR * t.NR) * e;
}

export function buildGemmModule(kind: FloatKind, t: GemmTile, memory: { initialPages: number; maxPages: number }): Uint8Array {
  const e = ELT[kind];
  if (t.NR % e.lanes || t.MC % t.MR || t.NC % t.NR) throw new Error(`gemm tile ${JSON.stringify(t)} is not aligned for ${kind}`);
  const m = new ModuleBuilder();
  const kernel = microKernel(m, e, t);
  const packA = packAFn(m, e, t);
  const packB = packBFn(m, e, t);
  const edge = edgeCopyFn(m, e, t);
  gemmFn(m, e, t, { kernel, packA, packB, edge });
  return m.encode(memory);
}

/**
 * kernel(kc, pa, pb, c, ldcBytes, accumulate): the MR x NR tile at c
 * (+)= packed A panel · packed B panel over kc steps (kc >= 1).
 */
function microKernel(m: ModuleBuilder, e: Elt, t: GemmTile): FunctionBuilder {
  const f = m.fn("kernel", ["i32", "i32", "i32", "i32", "i32", "i32"]);
  const [kc, pa, pb, c, ldc, acc] = f.params as [Local, Local, Local, Local, Local, Local];
  const V = t.NR / e.lanes;
  const accs = Array.from({ length: t.MR }, () => Array.from({ length: V }, () => f.local("v128")));
  const bv = Array.from({ length: V }, () => f.local("v128"));
  const a = f.local("v128");
  for (const row of accs) for (const r of row) f.v128Zero().set(r);
  f.loop(() => {
    bv.forEach((b, v) =>
      f
        .get(pb)
        .v128Load(v * 16)
        .set(b),
    );
    for (let i = 0; i < t.MR; i++) {
      f.get(pa);
      e.splat(f, i * e.bytes);
      f.set(a);
      for (let v = 0; v < V; v++) {
        f.get(accs[i]![v]!).get(a).get(bv[v]!);
        e.vmul(f);
        e.vadd(f);
        f.set(accs[i]![v]!);
      }
    }
    f.inc(pa, t.MR * e.bytes).inc(pb, t.NR * e.bytes);
    f.get(kc).i32(-1).add().tee(kc).brIf(0);
  });
  const row = f.local("i32");
  const writeBack = (accumulate: boolean) => {
    f.get(c).set(row);
    for (let i = 0; i < t.MR; i++) {
      for (let v = 0; v < V; v++) {
        f.get(row);
        if (accumulate) f.get(row).v128Load(v * 16);
        f.get(accs[i]![v]!);
        if (accumulate) e.vadd(f);
        f.v128Store(v * 16);
      }
      f.inc(row, ldc);
    }
  };
  f.get(acc).ifElse(
    () => writeBack(true),
    () => writeBack(false),
  );
  return f;
}

/** Copy `bytes` bytes (a multiple of 4) from address `src` to `dst`, in the widest moves that fit. */
function copyBytes(f: FunctionBuilder, dst: Local, src: Local, bytes: number): void {
  for (let o = 0; o < bytes;) {
    const w = bytes - o >= 16 ? 16 : bytes - o >= 8 ? 8 : 4;
    f.get(dst).get(src);
    if (w === 16) f.v128Load(o).v128Store(o);
    else if (w === 8)
      f.f64Load(o).f64Store(o); // a bit-exact move of 8 bytes
    else f.f32Load(o).f32Store(o);
    o += w;
  }
}

/**
 * packA(a, rs, cs, kc, mc, dst): A [mc x kc] (element strides rs, cs) into
 * MR-row panels, k-major inside a panel; rows past mc are zeros. Full
 * panels take a fast path when A is stored transposed (rs = 1: a panel's MR
 * values at a k sit side by side and move at once) or, for MR = 2, row-major
 * (cs = 1: the two rows are read a vector at a time and interleaved).
 */
function packAFn(m: ModuleBuilder, e: Elt, t: GemmTile): FunctionBuilder {
  const f = m.fn("packA", ["i32", "i32", "i32", "i32", "i32", "i32"]);
  const [a, rs, cs, kc, mc, dst] = f.params as [Local, Local, Local, Local, Local, Local];
  const ir = f.local("i32"),
    i = f.local("i32"),
    k = f.local("i32"),
    full = f.local("i32"),
    vk = f.local("i32");
  const s = f.local("i32"),
    s1 = f.local("i32"),
    d = f.local("i32"),
    rowA = f.local("i32"),
    panel = f.local("i32"),
    ldaB = f.local("i32"),
    csB = f.local("i32");
  f.get(rs).i32(e.bytes).mul().set(ldaB);
  f.get(cs).i32(e.bytes).mul().set(csB);
  f.get(kc).i32(-e.lanes).and().set(vk);
  f.get(dst).set(panel).get(a).set(rowA);
  const transposed = () => {
    f.get(rowA).set(s).get(panel).set(d);
    f.forRange(k, 0, kc, 1, () => {
      copyBytes(f, d, s, t.MR * e.bytes);
      f.get(s)
        .get(csB)
        .add()
        .set(s)
        .inc(d, t.MR * e.bytes);
    });
  };
  // rows r0, r1 as vectors [r0_k .. r0_k+L), [r1_k ..): stored as r0_k r1_k r0_k+1 r1_k+1 ...
  const interleaved = () => {
    const lo: number[] = [],
      hi: number[] = [];
    for (let l = 0; l < e.lanes / 2; l++) {
      for (const [out, lane] of [
        [lo, l],
        [hi, l + e.lanes / 2],
      ] as const) {
        for (let b = 0; b < e.bytes; b++) out.push(lane * e.bytes + b);
        for (let b = 0; b < e.bytes; b++) out.push(16 + lane * e.bytes + b);
      }
    }
    f.get(rowA).set(s).get(rowA).get(ldaB).add().set(s1).get(panel).set(d);
    f.forRange(k, 0, vk, e.lanes, () => {
      f.get(d).get(s).v128Load().get(s1).v128Load().shuffle(lo).v128Store();
      f.get(d).get(s).v128Load().get(s1).v128Load().shuffle(hi).v128Store(16);
      f.inc(s, 16).inc(s1, 16).inc(d, 32);
    });
    f.forRange(k, vk, kc, 1, () => {
      f.get(d).get(s);
      e.load(f);
      e.store(f);
      f.get(d).get(s1);
      e.load(f);
      e.store(f, e.bytes);
      f.inc(s, e.bytes)
        .inc(s1, e.bytes)
        .inc(d, 2 * e.bytes);
    });
  };
  const general = () =>
    f.forRange(i, 0, t.MR, 1, () => {
      f.get(panel).get(i).i32(e.bytes).mul().add().set(d);
      f.get(ir)
        .get(i)
        .add()
        .get(mc)
        .ltS()
        .ifElse(
          () => {
            f.get(rowA).get(i).get(ldaB).mul().add().set(s);
            f.forRange(k, 0, kc, 1, () => {
              f.get(d).get(s);
              e.load(f);
              e.store(f);
              f.get(s)
                .get(csB)
                .add()
                .set(s)
                .inc(d, t.MR * e.bytes);
            });
          },
          () => {
            f.forRange(k, 0, kc, 1, () => {
              f.get(d);
              e.zero(f);
              e.store(f);
              f.inc(d, t.MR * e.bytes);
            });
          },
        );
    });
  f.forRange(ir, 0, mc, t.MR, () => {
    f.get(ir).i32(t.MR).add().get(mc).leS().set(full);
    f.get(full)
      .get(rs)
      .i32(1)
      .eq()
      .and()
      .ifElse(transposed, () => {
        if (t.MR === 2) f.get(full).get(cs).i32(1).eq().and().ifElse(interleaved, general);
        else general();
      });
    f.get(panel)
      .get(kc)
      .i32(t.MR * e.bytes)
      .mul()
      .add()
      .set(panel);
    f.get(rowA).get(ldaB).i32(t.MR).mul().add().set(rowA);
  });
  return f;
}

/**
 * packB(b, rs, cs, kc, nc, dst): B [kc x nc] (element strides rs, cs) into
 * NR-column panels, k-major inside a panel; columns past nc are zeros.
 * Whole panels of unit-stride rows move as vectors; a B stored transposed
 * (rs = 1) goes column by column, reading each one contiguously; anything
 * else element by element.
 */
function packBFn(m: ModuleBuilder, e: Elt, t: GemmTile): FunctionBuilder {
  const f = m.fn("packB", ["i32", "i32", "i32", "i32", "i32", "i32"]);
  const [b, rs, cs, kc, nc, dst] = f.params as [Local, Local, Local, Local, Local, Local];
  const jr = f.local("i32"),
    j = f.local("i32"),
    k = f.local("i32"),
    w = f.local("i32");
  const s = f.local("i32"),
    d = f.local("i32"),
    ldbB = f.local("i32"),
    at = f.local("i32"),
    csB = f.local("i32"),
    src = f.local("i32");
  f.get(rs).i32(e.bytes).mul().set(ldbB);
  f.get(cs).i32(e.bytes).mul().set(csB);
  f.get(dst).set(d);
  f.forRange(jr, 0, nc, t.NR, () => {
    f.get(b).get(jr).get(csB).mul().add().set(s);
    f.get(nc).get(jr).sub().set(w);
    f.get(w)
      .i32(t.NR)
      .geS()
      .get(cs)
      .i32(1)
      .eq()
      .and()
      .ifElse(
        () => {
          f.forRange(k, 0, kc, 1, () => {
            for (let v = 0; v < t.NR / e.lanes; v++)
              f.get(d)
                .get(s)
                .v128Load(v * 16)
                .v128Store(v * 16);
            f.inc(s, ldbB).inc(d, t.NR * e.bytes);
          });
        },
        () => {
          f.get(rs)
            .i32(1)
            .eq()
            .ifElse(
              () => {
                f.forRange(j, 0, t.NR, 1, () => {
                  f.get(d).get(j).i32(e.bytes).mul().add().set(at);
                  f.get(j)
                    .get(w)
                    .ltS()
                    .ifElse(
                      () => {
                        f.get(s).get(j).get(csB).mul().add().set(src);
                        f.forRange(k, 0, kc, 1, () => {
                          f.get(at).get(src);
                          e.load(f);
                          e.store(f);
                          f.inc(src, e.bytes).inc(at, t.NR * e.bytes);
                        });
                      },
                      () => {
                        f.forRange(k, 0, kc, 1, () => {
                          f.get(at);
                          e.zero(f);
                          e.store(f);
                          f.inc(at, t.NR * e.bytes);
                        });
                      },
                    );
                });
                f.get(d)
                  .get(kc)
                  .i32(t.NR * e.bytes)
                  .mul()
                  .add()
                  .set(d);
              },
              () => {
                f.forRange(k, 0, kc, 1, () => {
                  f.forRange(j, 0, t.NR, 1, () => {
                    f.get(d).get(j).i32(e.bytes).mul().add().set(at);
                    f.get(j)
                      .get(w)
                      .ltS()
                      .ifElse(
                        () => {
                          f.get(at).get(s).get(j).get(csB).mul().add();
                          e.load(f);
                          e.store(f);
                        },
                        () => {
                          f.get(at);
                          e.zero(f);
                          e.store(f);
                        },
                      );
                  });
                  f.inc(s, ldbB).inc(d, t.NR * e.bytes);
                });
              },
            );
        },
      );
  });
  return f;
}

/** edge(tile, c, ldc, mr, nr, accumulate): the valid mr x nr corner of a full tile into C. */
function edgeCopyFn(m: ModuleBuilder, e: Elt, t: GemmTile): FunctionBuilder {
  const f = m.fn("edge", ["i32", "i32", "i32", "i32", "i32", "i32"]);
  const [tile, c, ldc, mr, nr, acc] = f.params as [Local, Local, Local, Local, Local, Local];
  const i = f.local("i32"),
    j = f.local("i32"),
    src = f.local("i32"),
    dst = f.local("i32"),
    ldcB = f.local("i32");
  f.get(ldc).i32(e.bytes).mul().set(ldcB);
  const copy = (accumulate: boolean) =>
    f.forRange(i, 0, mr, 1, () => {
      f.get(tile)
        .get(i)
        .i32(t.NR * e.bytes)
        .mul()
        .add()
        .set(src);
      f.get(c).get(i).get(ldcB).mul().add().set(dst);
      f.forRange(j, 0, nr, 1, () => {
        f.get(dst);
        if (accumulate) {
          f.get(dst);
          e.load(f);
        }
        f.get(src);
        e.load(f);
        if (accumulate) e.sadd(f);
        e.store(f);
        f.inc(src, e.bytes).inc(dst, e.bytes);
      });
    });
  f.get(acc).ifElse(
    () => copy(true),
    () => copy(false),
  );
  return f;
}

interface Parts {
  kernel: FunctionBuilder;
  packA: FunctionBuilder;
  packB: FunctionBuilder;
  edge: FunctionBuilder;
}

function gemmFn(m: ModuleBuilder, e: Elt, t: GemmTile, p: Parts): FunctionBuilder {
  const f = m.fn("gemm", ["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32"]);
  const [ws, a, b, c, M, K, N, rsA, csA, rsB, csB, ldc, accumulate] = f.params as Local[] as [
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
  ];
  const L = () => f.local("i32");
  const Bp = L(),
    Ap = L(),
    tile = L(),
    ldcB = L();
  const jc = L(),
    nc = L(),
    pc = L(),
    kc = L(),
    ic = L(),
    mc = L(),
    jr = L(),
    nr = L(),
    ir = L(),
    mr = L();
  const acc = L(),
    pbp = L(),
    pap = L(),
    cp = L(),
    rem = L(),
    cap = L();
  const B = e.bytes;
  const minInto = (dst: Local, end: Local, at: Local, capacity: number) => {
    f.get(end).get(at).sub().set(rem).i32(capacity).set(cap);
    f.minS(rem, cap).set(dst);
  };
  f.get(ws).set(Bp);
  f.get(ws)
    .i32(t.KC * t.NC * B)
    .add()
    .set(Ap);
  f.get(Ap)
    .i32(t.MC * t.KC * B)
    .add()
    .set(tile);
  f.get(ldc).i32(B).mul().set(ldcB);
  f.forRange(jc, 0, N, t.NC, () => {
    minInto(nc, N, jc, t.NC);
    f.forRange(pc, 0, K, t.KC, () => {
      minInto(kc, K, pc, t.KC);
      f.get(b).get(pc).get(rsB).mul().get(jc).get(csB).mul().add().i32(B).mul().add();
      f.get(rsB).get(csB).get(kc).get(nc).get(Bp).call(p.packB);
      f.get(accumulate).get(pc).i32(0).ne().or().set(acc);
      f.forRange(ic, 0, M, t.MC, () => {
        minInto(mc, M, ic, t.MC);
        f.get(a).get(ic).get(rsA).mul().get(pc).get(csA).mul().add().i32(B).mul().add();
        f.get(rsA).get(csA).get(kc).get(mc).get(Ap).call(p.packA);
        f.forRange(jr, 0, nc, t.NR, () => {
          minInto(nr, nc, jr, t.NR);
          f.get(Bp).get(jr).get(kc).mul().i32(B).mul().add().set(pbp);
          f.forRange(ir, 0, mc, t.MR, () => {
            minInto(mr, mc, ir, t.MR);
            f.get(Ap).get(ir).get(kc).mul().i32(B).mul().add().set(pap);
            f.get(c).get(ic).get(ir).add().get(ldc).mul().get(jc).add().get(jr).add().i32(B).mul().add().set(cp);
            f.get(mr)
              .i32(t.MR)
              .eq()
              .get(nr)
              .i32(t.NR)
              .eq()
              .and()
              .ifElse(
                () => {
                  f.get(kc).get(pap).get(pbp).get(cp).get(ldcB).get(acc).call(p.kernel);
                },
                () => {
                  f.get(kc)
                    .get(pap)
                    .get(pbp)
                    .get(tile)
                    .i32(t.NR * B)
                    .i32(0)
                    .call(p.kernel);
                  f.get(tile).get(cp).get(ldc).get(mr).get(nr).get(acc).call(p.edge);
                },
              );
          });
        });
      });
    });
  });
  return f;
}

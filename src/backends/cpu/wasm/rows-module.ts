/**
 * float32 kernels of the fused row primitives (ops/rows.ts) as WebAssembly
 * SIMD. Each walks `rows` contiguous rows of `cols` elements, reading a row
 * two or three times while it is in cache.
 *
 * Exports (ws, the thread's scratch, comes first and is unused here):
 *   lse_stats(ws, max, sum, x, rows, cols)      max: f32 per row; sum: f64 per row, Σ e^(x − max')
 *   softmax(ws, out, x, rows, cols)
 *   softmax_grad(ws, out, y, g, rows, cols)     y·(g − Σ y·g): softmax's VJP
 *   layernorm(ws, out, x, w, b, rows, cols, eps, affine)
 *   rmsnorm(ws, out, x, w, rows, cols, eps, affine)
 *   norm_grad(ws, out, x, h, rows, cols, eps, center)   the norms' VJP for x
 * where max' is the row's max, or 0 for a row with no value above -inf (so
 * an all -inf or empty row sums to 0 and its logsumexp is -inf, not NaN),
 * eps is the bits of a float32, and affine has bit 0 set when w is given and
 * bit 1 when b is. Wasm has no log: logsumexp and logSoftmax take it per row
 * on the host from lse_stats (see rows.ts).
 *
 * Numerics. Sums accumulate in float64 (softmax's and softmax_grad's terms
 * in float32 blocks of 16 first). The row max ignores NaN, which the sum then propagates. e^x (x ≤ 0
 * here: inputs are max-subtracted) is float32 SIMD: x = n·ln 2 + r with
 * |r| ≤ ln 2 / 2 (n rounded by adding 1.5·2^23, ln 2 split in two for an
 * exact n·ln 2), a degree-6 polynomial for e^r (relative error < 1.8e-8),
 * and 2^n through the exponent bits; below −87.7 the result is flushed to 0.
 * Relative error about 2 ulp. Norms subtract the float64 mean as two
 * float32 parts (two passes, not E[x²] − E[x]²) and scale by rsqrt computed
 * in float64, rounded once.
 */
import { ModuleBuilder, type FunctionBuilder, type Local } from "./encoder.js";

export function buildRowsModule(memory: { initialPages: number; maxPages: number }): { bytes: Uint8Array; exports: string[] } {
  const m = new ModuleBuilder();
  lseStatsFn(m);
  softmaxFn(m);
  softmaxGradFn(m);
  layerNormFn(m);
  rmsNormFn(m);
  normGradFn(m);
  return { bytes: m.encode(memory), exports: m.fns.map((f) => f.exportName) };
}

/** One loop of a pass: `body` handles `width` elements at the pointers (4 per vector). */
interface Stage {
  readonly width: number;
  readonly body: () => void;
}

/**
 * One pass over a row at the pointers `ptrs` (advanced as it goes): each
 * stage, widest first, takes as many elements as fit its width, so the last
 * stage (width 1) handles the cols % 4 tail.
 */
function stages(f: FunctionBuilder, cols: Local, ptrs: readonly Local[], list: readonly Stage[]): void {
  const j = f.local("i32");
  let from: number | Local = 0;
  for (const { width, body } of list) {
    const end = f.local("i32");
    f.get(cols).i32(-width).and().set(end);
    f.forRange(j, from, end, width, () => {
      body();
      for (const p of ptrs) f.inc(p, 4 * width);
    });
    from = end;
  }
}

/** A pass of one vector or one element at a time. */
function pass(f: FunctionBuilder, cols: Local, ptrs: readonly Local[], vec: () => void, one: () => void): void {
  stages(f, cols, ptrs, [
    { width: 4, body: vec },
    { width: 1, body: one },
  ]);
}

/** Lanes 2 and 3 moved to 0 and 1, so promote_low widens the upper half. */
const HIGH_HALF = [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7];

/** acc0 += lanes 0, 1 and acc1 += lanes 2, 3 of the f32x4 in `v`, in float64. */
function accumulate(f: FunctionBuilder, v: Local, acc0: Local, acc1: Local): void {
  f.get(acc0).get(v).simd("f64x2.promote_low_f32x4").simd("f64x2.add").set(acc0);
  f.get(acc1).get(v).get(v).shuffle(HIGH_HALF).simd("f64x2.promote_low_f32x4").simd("f64x2.add").set(acc1);
}

/** The f64 sum of two f64x2 accumulators and a scalar, on the stack. */
function total(f: FunctionBuilder, acc0: Local, acc1: Local, tail: Local): void {
  f.get(acc0).get(acc1).simd("f64x2.add").set(acc0);
  f.get(acc0).f64x2ExtractLane(0).get(acc0).f64x2ExtractLane(1).scalar("f64.add").get(tail).scalar("f64.add");
}

/** Zero the accumulators of `total`. */
function clear(f: FunctionBuilder, acc0: Local, acc1: Local, tail: Local): void {
  f.v128Zero().set(acc0).v128Zero().set(acc1).f64Const(0).set(tail);
}

const LN2_HI = 0.693359375; // 355/512: n·LN2_HI is exact for |n| < 2^15
const LN2_LO = Math.LN2 - LN2_HI;

/**
 * e^r ≈ Σ EXP_POLY[k]·r^k on |r| ≤ ln 2 / 2: degree 6, fitted for this
 * kernel by iteratively reweighted least squares (Lawson's method) on the
 * relative error, which is below 1.8e-8 with these float32 coefficients
 * (Taylor to r^6 would be 1.2e-7).
 */
const EXP_POLY = [1, 1, 0.49999991059303284, 0.16666419804096222, 0.04166822507977486, 0.008374815806746483, 0.0013836845755577087];

/** 1.5·2^23: adding it rounds a float32 of magnitude < 2^22 to an integer held in the low mantissa bits. */
const ROUNDER = 1.5 * 2 ** 23;

/** e^x of the f32x4 on the stack, for x ≤ 0 or NaN (see the header); uses the v128 locals x, t, r. */
function expF32x4(f: FunctionBuilder, x: Local, t: Local, r: Local): void {
  f.f32x4Const(-88).simd("f32x4.pmax").set(x); // -inf and anything below: 2^-127 scale, i.e. 0
  // t = x·log2(e) + ROUNDER: n = t − ROUNDER is x·log2(e) rounded to an integer, and t's low bits hold n
  f.get(x).f32x4Const(Math.LOG2E).simd("f32x4.mul").f32x4Const(ROUNDER).simd("f32x4.add").set(t);
  f.get(t).f32x4Const(ROUNDER).simd("f32x4.sub").set(r); // n, for now
  f.get(x)
    .get(r)
    .f32x4Const(LN2_HI)
    .simd("f32x4.mul")
    .simd("f32x4.sub")
    .get(r)
    .f32x4Const(LN2_LO)
    .simd("f32x4.mul")
    .simd("f32x4.sub")
    .set(r);
  f.f32x4Const(EXP_POLY[EXP_POLY.length - 1]!);
  for (let k = EXP_POLY.length - 2; k >= 0; k--) f.get(r).simd("f32x4.mul").f32x4Const(EXP_POLY[k]!).simd("f32x4.add");
  // 2^n as float32 bits: (n + 127) << 23, ROUNDER's own bits shifting out; n = -127 gives +0
  f.get(t).i32x4Const(127).simd("i32x4.add").i32(23).simd("i32x4.shl");
  f.simd("f32x4.mul");
}

/** Locals of the row max and exp-sum passes. */
interface ExpLocals {
  m: Local;
  mv: Local;
  acc0: Local;
  acc1: Local;
  tail: Local;
  v: Local;
  e: Local;
  x: Local;
  t: Local;
  r: Local;
  p: Local;
}

function expLocals(f: FunctionBuilder): ExpLocals {
  return {
    m: f.local("f32"),
    mv: f.local("v128"),
    acc0: f.local("v128"),
    acc1: f.local("v128"),
    tail: f.local("f64"),
    v: f.local("v128"),
    e: f.local("f32"),
    x: f.local("v128"),
    t: f.local("v128"),
    r: f.local("v128"),
    p: f.local("i32"),
  };
}

/** m = the row's max (NaN ignored), or 0 when nothing is above -inf; mv = m in every lane. */
function rowMax(f: FunctionBuilder, row: Local, cols: Local, l: ExpLocals): void {
  const acc = [l.mv, l.x, l.t, l.r]; // four independent chains: pmax has a latency of several cycles
  f.get(row).set(l.p);
  for (const a of acc) f.f32x4Const(-Infinity).set(a);
  const fold = (a: Local, load: () => void) => {
    f.get(a);
    load();
    f.simd("f32x4.pmax").set(a);
  };
  stages(
    f,
    cols,
    [l.p],
    [
      { width: 16, body: () => acc.forEach((a, k) => fold(a, () => f.get(l.p).v128Load(16 * k))) },
      { width: 4, body: () => fold(l.mv, () => f.get(l.p).v128Load()) },
      { width: 1, body: () => fold(l.mv, () => f.get(l.p).load32Splat()) },
    ],
  );
  for (const a of acc.slice(1)) f.get(l.mv).get(a).simd("f32x4.pmax").set(l.mv);
  f.get(l.mv).f32x4ExtractLane(0).set(l.m);
  for (let lane = 1; lane < 4; lane++) f.get(l.m).get(l.mv).f32x4ExtractLane(lane).scalar("f32.max").set(l.m);
  f.f32Const(0).get(l.m).get(l.m).f32Const(-Infinity).scalar("f32.eq").select().set(l.m);
  f.get(l.m).simd("f32x4.splat").set(l.mv);
}

/**
 * Σ e^(x − m) over the row into acc0/acc1/tail; with `out`, each e^(x − m)
 * is also stored there. Blocks of 16 are summed pairwise in float32 before
 * joining the float64 sums (widening every vector cost a third of the pass).
 */
function expSum(f: FunctionBuilder, row: Local, cols: Local, l: ExpLocals, out: Local | null): void {
  f.get(row).set(l.p);
  clear(f, l.acc0, l.acc1, l.tail);
  /** e^(x − m) of the 4 elements at byte offset `at`, stored to out too, on the stack. */
  const vector = (at: number) => {
    f.get(l.p).v128Load(at).get(l.mv).simd("f32x4.sub");
    expF32x4(f, l.x, l.t, l.r);
    if (out) f.set(l.v).get(out).get(l.v).v128Store(at).get(l.v);
  };
  stages(f, cols, out ? [l.p, out] : [l.p], [
    {
      width: 16,
      body: () => {
        vector(0);
        vector(16);
        f.simd("f32x4.add");
        vector(32);
        vector(48);
        f.simd("f32x4.add");
        f.simd("f32x4.add").set(l.v);
        accumulate(f, l.v, l.acc0, l.acc1);
      },
    },
    {
      width: 4,
      body: () => {
        vector(0);
        f.set(l.v);
        accumulate(f, l.v, l.acc0, l.acc1);
      },
    },
    {
      width: 1,
      body: () => {
        f.get(l.p).load32Splat().get(l.mv).simd("f32x4.sub");
        expF32x4(f, l.x, l.t, l.r);
        f.f32x4ExtractLane(0).set(l.e);
        if (out) f.get(out).get(l.e).f32Store();
        f.get(l.e).scalar("f64.promote_f32").get(l.tail).scalar("f64.add").set(l.tail);
      },
    },
  ]);
}

/** The row loop shared by all kernels: `body` runs with `x` at the row; `x` and the `out` pointers advance by a row. */
function rowLoop(f: FunctionBuilder, rows: Local, cols: Local, x: Local, out: readonly Local[], body: (row: Local) => void): void {
  const r = f.local("i32"),
    row = f.local("i32"),
    bytes = f.local("i32");
  f.get(cols).i32(4).mul().set(bytes).get(x).set(row);
  f.forRange(r, 0, rows, 1, () => {
    body(row);
    f.inc(row, bytes);
    for (const o of out) f.inc(o, bytes);
  });
}

function lseStatsFn(m: ModuleBuilder): void {
  const f = m.fn("lse_stats", ["i32", "i32", "i32", "i32", "i32", "i32"]);
  const [, maxOut, sumOut, x, rows, cols] = f.params as [Local, Local, Local, Local, Local, Local];
  const l = expLocals(f),
    r = f.local("i32");
  f.forRange(r, 0, rows, 1, () => {
    rowMax(f, x, cols, l);
    f.get(maxOut).get(l.m).f32Store();
    expSum(f, x, cols, l, null);
    f.get(sumOut);
    total(f, l.acc0, l.acc1, l.tail);
    f.f64Store();
    f.inc(maxOut, 4).inc(sumOut, 8);
    f.get(x).get(cols).i32(4).mul().add().set(x);
  });
}

function softmaxFn(m: ModuleBuilder): void {
  const f = m.fn("softmax", ["i32", "i32", "i32", "i32", "i32"]);
  const [, out, x, rows, cols] = f.params as [Local, Local, Local, Local, Local];
  const l = expLocals(f),
    o = f.local("i32"),
    inv = f.local("v128");
  rowLoop(f, rows, cols, x, [out], (row) => {
    rowMax(f, row, cols, l);
    f.get(out).set(o);
    expSum(f, row, cols, l, o);
    f.f64Const(1);
    total(f, l.acc0, l.acc1, l.tail);
    f.scalar("f64.div").scalar("f32.demote_f64").simd("f32x4.splat").set(inv);
    f.get(out).set(o);
    pass(
      f,
      cols,
      [o],
      () => {
        f.get(o).get(o).v128Load().get(inv).simd("f32x4.mul").v128Store();
      },
      () => {
        f.get(o).get(o).f32Load().get(inv).f32x4ExtractLane(0).scalar("f32.mul").f32Store();
      },
    );
  });
}

function softmaxGradFn(m: ModuleBuilder): void {
  const f = m.fn("softmax_grad", ["i32", "i32", "i32", "i32", "i32", "i32"]);
  const [, out, y, g, rows, cols] = f.params as [Local, Local, Local, Local, Local, Local];
  const py = f.local("i32"),
    pg = f.local("i32"),
    o = f.local("i32");
  const acc0 = f.local("v128"),
    acc1 = f.local("v128"),
    tail = f.local("f64"),
    v = f.local("v128"),
    s = f.local("v128");
  /** y·g of the 4 elements at byte offset `at`, on the stack. */
  const product = (at: number) => {
    f.get(py).v128Load(at).get(pg).v128Load(at).simd("f32x4.mul");
  };
  rowLoop(f, rows, cols, y, [out, g], (row) => {
    // s = Σ y·g, blocks of 16 summed pairwise in float32, then in float64
    f.get(row).set(py).get(g).set(pg);
    clear(f, acc0, acc1, tail);
    stages(
      f,
      cols,
      [py, pg],
      [
        {
          width: 16,
          body: () => {
            product(0);
            product(16);
            f.simd("f32x4.add");
            product(32);
            product(48);
            f.simd("f32x4.add").simd("f32x4.add").set(v);
            accumulate(f, v, acc0, acc1);
          },
        },
        {
          width: 4,
          body: () => {
            product(0);
            f.set(v);
            accumulate(f, v, acc0, acc1);
          },
        },
        {
          width: 1,
          body: () => {
            f.get(py).f32Load().get(pg).f32Load().scalar("f32.mul").scalar("f64.promote_f32").get(tail).scalar("f64.add").set(tail);
          },
        },
      ],
    );
    total(f, acc0, acc1, tail);
    f.scalar("f32.demote_f64").simd("f32x4.splat").set(s);
    f.get(row).set(py).get(g).set(pg).get(out).set(o);
    pass(
      f,
      cols,
      [py, pg, o],
      () => {
        f.get(o).get(py).v128Load().get(pg).v128Load().get(s).simd("f32x4.sub").simd("f32x4.mul").v128Store();
      },
      () => {
        f.get(o).get(py).f32Load().get(pg).f32Load().get(s).f32x4ExtractLane(0).scalar("f32.sub").scalar("f32.mul").f32Store();
      },
    );
  });
}

/** Locals of the norm kernels. */
/**
 * Locals of the norm kernels. The shift (layerNorm's mean) is split into
 * float32 parts, x − hi − lo: x − hi is exact near the mean (Sterbenz), so a
 * row far from 0 (1e4 + noise) loses nothing to the mean's rounding.
 */
interface NormLocals {
  p: Local;
  o: Local;
  wp: Local;
  bp: Local;
  acc0: Local;
  acc1: Local;
  tail: Local;
  v: Local;
  d: Local;
  scale: Local;
  shift: Local;
  shiftLo: Local;
  mean: Local;
}

function normLocals(f: FunctionBuilder): NormLocals {
  return {
    p: f.local("i32"),
    o: f.local("i32"),
    wp: f.local("i32"),
    bp: f.local("i32"),
    acc0: f.local("v128"),
    acc1: f.local("v128"),
    tail: f.local("f64"),
    v: f.local("v128"),
    d: f.local("f32"),
    scale: f.local("v128"),
    shift: f.local("v128"),
    shiftLo: f.local("v128"),
    mean: f.local("f64"),
  };
}

/** scale = rsqrt(Σ / cols + eps) in every lane, from the accumulators. */
function rsqrtScale(f: FunctionBuilder, cols: Local, eps: Local, l: NormLocals): void {
  f.f64Const(1);
  total(f, l.acc0, l.acc1, l.tail);
  f.get(cols).scalar("f64.convert_i32_u").scalar("f64.div");
  f.get(eps).scalar("f32.reinterpret_i32").scalar("f64.promote_f32").scalar("f64.add").scalar("f64.sqrt").scalar("f64.div");
  f.scalar("f32.demote_f64").simd("f32x4.splat").set(l.scale);
}

/** x − shift (and − shiftLo when `lo`) for the vector, or the lane-0 scalar, on the stack. */
function shifted(f: FunctionBuilder, l: NormLocals, lo: boolean, vector: boolean): void {
  if (vector) {
    f.get(l.shift).simd("f32x4.sub");
    if (lo) f.get(l.shiftLo).simd("f32x4.sub");
  } else {
    f.get(l.shift).f32x4ExtractLane(0).scalar("f32.sub");
    if (lo) f.get(l.shiftLo).f32x4ExtractLane(0).scalar("f32.sub");
  }
}

/**
 * The output pass: out = (x − shift)·scale, times w and plus b as `affine`
 * says (one loop per combination, chosen once per row).
 */
function normalizeRow(
  f: FunctionBuilder,
  row: Local,
  out: Local,
  cols: Local,
  w: Local,
  b: Local,
  affine: Local,
  l: NormLocals,
  lo: boolean,
): void {
  for (let mode = 0; mode < 4; mode++) {
    const hasW = (mode & 1) === 1,
      hasB = (mode & 2) === 2;
    f.get(affine)
      .i32(mode)
      .eq()
      .ifElse(() => {
        f.get(row).set(l.p).get(out).set(l.o).get(w).set(l.wp).get(b).set(l.bp);
        const ptrs = [l.p, l.o, ...(hasW ? [l.wp] : []), ...(hasB ? [l.bp] : [])];
        pass(
          f,
          cols,
          ptrs,
          () => {
            f.get(l.o).get(l.p).v128Load();
            shifted(f, l, lo, true);
            f.get(l.scale).simd("f32x4.mul");
            if (hasW) f.get(l.wp).v128Load().simd("f32x4.mul");
            if (hasB) f.get(l.bp).v128Load().simd("f32x4.add");
            f.v128Store();
          },
          () => {
            f.get(l.o).get(l.p).f32Load();
            shifted(f, l, lo, false);
            f.get(l.scale).f32x4ExtractLane(0).scalar("f32.mul");
            if (hasW) f.get(l.wp).f32Load().scalar("f32.mul");
            if (hasB) f.get(l.bp).f32Load().scalar("f32.add");
            f.f32Store();
          },
        );
      });
  }
}

/** The row's float64 mean into l.mean, and as two float32 parts (shift + shiftLo), which shift the squares and the output. */
function meanShift(f: FunctionBuilder, row: Local, cols: Local, l: NormLocals): void {
  sumSquaresOrSum(f, row, cols, l, false);
  f.get(cols).scalar("f64.convert_i32_u").scalar("f64.div").set(l.mean);
  f.get(l.mean).scalar("f32.demote_f64").simd("f32x4.splat").set(l.shift);
  f.get(l.mean)
    .get(l.mean)
    .scalar("f32.demote_f64")
    .scalar("f64.promote_f32")
    .scalar("f64.sub")
    .scalar("f32.demote_f64")
    .simd("f32x4.splat")
    .set(l.shiftLo);
}

function layerNormFn(m: ModuleBuilder): void {
  const f = m.fn("layernorm", Array<"i32">(9).fill("i32"));
  const [, out, x, w, b, rows, cols, eps, affine] = f.params as Local[] as [Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const l = normLocals(f);
  rowLoop(f, rows, cols, x, [out], (row) => {
    meanShift(f, row, cols, l);
    sumSquaresOrSum(f, row, cols, l, true, true);
    rsqrtScale(f, cols, eps, l);
    normalizeRow(f, row, out, cols, w, b, affine, l, true);
  });
}

function rmsNormFn(m: ModuleBuilder): void {
  const f = m.fn("rmsnorm", Array<"i32">(8).fill("i32"));
  const [, out, x, w, rows, cols, eps, affine] = f.params as Local[] as [Local, Local, Local, Local, Local, Local, Local, Local];
  const l = normLocals(f);
  rowLoop(f, rows, cols, x, [out], (row) => {
    f.v128Zero().set(l.shift);
    sumSquaresOrSum(f, row, cols, l, true, false);
    rsqrtScale(f, cols, eps, l);
    normalizeRow(f, row, out, cols, w, w, affine, l, false);
  });
}

/**
 * ∂x of layerNorm (center = 1) or rmsNorm (0) per row, for the upstream
 * gradient h: r·(h − mean(h) − d·mean(h·d)·r²) with d = x − mean(x) (x for
 * rmsNorm) and r = rsqrt(mean(d²) + eps). One pass for the mean, one for
 * the three sums (float64), one for the output (float32 lanes).
 */
function normGradFn(m: ModuleBuilder): void {
  const f = m.fn("norm_grad", Array<"i32">(8).fill("i32"));
  const [, out, x, h, rows, cols, eps, center] = f.params as Local[] as [Local, Local, Local, Local, Local, Local, Local, Local];
  const l = normLocals(f);
  const ph = f.local("i32"),
    sums = Array.from({ length: 2 }, () => ({ acc0: f.local("v128"), acc1: f.local("v128"), tail: f.local("f64") }));
  const [hSum, hdSum] = sums as [(typeof sums)[0], (typeof sums)[0]];
  const hv = f.local("v128"),
    t = f.local("v128"),
    hs = f.local("f32"),
    r64 = f.local("f64"),
    mh = f.local("v128"),
    k = f.local("v128");
  /** Σ / cols of one set of accumulators, in float64 on the stack. */
  const mean = (a: { acc0: Local; acc1: Local; tail: Local }) => {
    total(f, a.acc0, a.acc1, a.tail);
    f.get(cols).scalar("f64.convert_i32_u").scalar("f64.div");
  };
  rowLoop(f, rows, cols, x, [out, h], (row) => {
    f.get(center).ifElse(
      () => meanShift(f, row, cols, l),
      () => {
        f.v128Zero().set(l.shift).v128Zero().set(l.shiftLo);
      },
    );
    f.get(row).set(l.p).get(h).set(ph);
    clear(f, l.acc0, l.acc1, l.tail);
    for (const a of sums) clear(f, a.acc0, a.acc1, a.tail);
    pass(
      f,
      cols,
      [l.p, ph],
      () => {
        f.get(l.p).v128Load();
        shifted(f, l, true, true);
        f.set(l.v).get(l.v).get(l.v).simd("f32x4.mul").set(t);
        accumulate(f, t, l.acc0, l.acc1);
        f.get(ph).v128Load().set(hv);
        accumulate(f, hv, hSum.acc0, hSum.acc1);
        f.get(hv).get(l.v).simd("f32x4.mul").set(t);
        accumulate(f, t, hdSum.acc0, hdSum.acc1);
      },
      () => {
        f.get(l.p).f32Load();
        shifted(f, l, true, false);
        f.set(l.d).get(ph).f32Load().set(hs);
        const add = (tail: Local) => f.scalar("f64.promote_f32").get(tail).scalar("f64.add").set(tail);
        f.get(l.d).get(l.d).scalar("f32.mul");
        add(l.tail);
        f.get(hs);
        add(hSum.tail);
        f.get(hs).get(l.d).scalar("f32.mul");
        add(hdSum.tail);
      },
    );
    // r in float64: k = mean(h·d)·r² is formed before rounding
    f.f64Const(1);
    mean(l);
    f.get(eps).scalar("f32.reinterpret_i32").scalar("f64.promote_f32").scalar("f64.add").scalar("f64.sqrt").scalar("f64.div").set(r64);
    f.get(r64).scalar("f32.demote_f64").simd("f32x4.splat").set(l.scale);
    mean(hSum);
    f.f64Const(0).get(center).select().scalar("f32.demote_f64").simd("f32x4.splat").set(mh);
    mean(hdSum);
    f.get(r64).scalar("f64.mul").get(r64).scalar("f64.mul").scalar("f32.demote_f64").simd("f32x4.splat").set(k);
    f.get(row).set(l.p).get(h).set(ph).get(out).set(l.o);
    pass(
      f,
      cols,
      [l.p, ph, l.o],
      () => {
        f.get(l.o).get(ph).v128Load().get(mh).simd("f32x4.sub").get(l.p).v128Load();
        shifted(f, l, true, true);
        f.get(k).simd("f32x4.mul").simd("f32x4.sub").get(l.scale).simd("f32x4.mul").v128Store();
      },
      () => {
        f.get(l.o).get(ph).f32Load().get(mh).f32x4ExtractLane(0).scalar("f32.sub").get(l.p).f32Load();
        shifted(f, l, true, false);
        f.get(k).f32x4ExtractLane(0).scalar("f32.mul").scalar("f32.sub").get(l.scale).f32x4ExtractLane(0).scalar("f32.mul").f32Store();
      },
    );
  });
}

/**
 * Σ (x − shift)² (squares; shiftLo too when `lo`) or Σ x (not) over the row
 * into the accumulators; with plain sums, the total is left on the stack.
 */
function sumSquaresOrSum(f: FunctionBuilder, row: Local, cols: Local, l: NormLocals, squares: boolean, lo = false): void {
  f.get(row).set(l.p);
  clear(f, l.acc0, l.acc1, l.tail);
  pass(
    f,
    cols,
    [l.p],
    () => {
      f.get(l.p).v128Load();
      if (squares) {
        shifted(f, l, lo, true);
        f.tee(l.v).get(l.v).simd("f32x4.mul");
      }
      f.set(l.v);
      accumulate(f, l.v, l.acc0, l.acc1);
    },
    () => {
      f.get(l.p).f32Load();
      if (squares) {
        shifted(f, l, lo, false);
        f.tee(l.d).get(l.d).scalar("f32.mul");
      }
      f.scalar("f64.promote_f32").get(l.tail).scalar("f64.add").set(l.tail);
    },
  );
  if (!squares) total(f, l.acc0, l.acc1, l.tail);
}

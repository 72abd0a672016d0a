/**
 * float32 elementwise kernels and row reductions as WebAssembly SIMD.
 *
 * Every kernel walks `rows` rows of `cols` elements, writing its output
 * contiguously; each input has a row stride (any) and a column stride of 0
 * (repeated along the row) or 1 (contiguous), which covers every
 * broadcasting pattern once the shapes are collapsed (see elementwise.ts).
 *
 * Exports (ws, the thread's scratch, comes first and is unused here):
 *   bin_<op>(ws, out, a, b, rows, cols, aRow, aCol, bRow, bCol)   op: add sub mul div maximum minimum
 *   un_<op>(ws, out, x, n)     op: neg abs sqrt, and exp log log1p tanh sigmoid erf (transcendentals.ts)
 *   where(ws, out, c, a, b, rows, cols, cRow, cCol, aRow, aCol, bRow, bCol)   c: one byte per element
 *   rowsum(ws, out, x, rows, cols), rowmax(ws, out, x, rows, cols)
 *   colsum(ws, out, x, rows, cols, ld): out[j] = Σ_r x[r·ld + j] for j < cols
 *     (float64 sums held in ws, 8·cols bytes)
 *
 * Numerics. add, sub, mul, div, sqrt, neg, abs, min and max are correctly
 * rounded in float32, which is what the JS kernels' double arithmetic
 * rounded once to float32 gives, so results are bit-identical (min/max
 * propagate NaN and order -0 below +0, as the op table's rows do). The
 * transcendentals are computed in float64 lanes and rounded once (see
 * transcendentals.ts), so they equal the JS kernels' results except within
 * ~1e-3 ulp of a rounding boundary. rowsum and colsum
 * accumulate in float64 like the JS sum kernel (colsum in the same order).
 */
import { FunctionBuilder, ModuleBuilder, SCALAR_OPS, SIMD_OPS, type Local } from "./encoder.js";
import { addTranscendentals, TRANSCENDENTAL_NAMES } from "./transcendentals.js";

type SimdOp = keyof typeof SIMD_OPS;
type ScalarOp = keyof typeof SCALAR_OPS;

export const WASM_BINARY: Readonly<Record<string, [SimdOp, ScalarOp]>> = {
  add: ["f32x4.add", "f32.add"],
  sub: ["f32x4.sub", "f32.sub"],
  mul: ["f32x4.mul", "f32.mul"],
  div: ["f32x4.div", "f32.div"],
  maximum: ["f32x4.max", "f32.max"],
  minimum: ["f32x4.min", "f32.min"],
};

export const SIMPLE_UNARY: Readonly<Record<string, [SimdOp, ScalarOp]>> = {
  neg: ["f32x4.neg", "f32.neg"],
  abs: ["f32x4.abs", "f32.abs"],
  sqrt: ["f32x4.sqrt", "f32.sqrt"],
};

export const WASM_UNARY: readonly string[] = [...Object.keys(SIMPLE_UNARY), ...TRANSCENDENTAL_NAMES];

export function buildElementwiseModule(memory: { initialPages: number; maxPages: number }): { bytes: Uint8Array; exports: string[] } {
  const m = new ModuleBuilder();
  for (const [name, ops] of Object.entries(WASM_BINARY)) binaryFn(m, `bin_${name}`, ops);
  for (const [name, ops] of Object.entries(SIMPLE_UNARY)) unaryFn(m, `un_${name}`, ops);
  addTranscendentals(m);
  whereFn(m);
  rowSumFn(m);
  rowMaxFn(m);
  colSumFn(m);
  return { bytes: m.encode(memory), exports: m.fns.map((f) => f.exportName) };
}

/** One input stream of a row loop: its running pointer, and whether it moves along the row. */
interface Stream {
  ptr: Local;
  moving: boolean;
  splat: Local;
}

/**
 * The row body shared by all kernels: a vector loop over cols & ~3 then a
 * scalar tail. `vec` pushes the output vector from the streams' vectors,
 * `sca` the output scalar from their scalars.
 */
function rowLoop(
  f: FunctionBuilder,
  out: Local,
  cols: Local,
  streams: Stream[],
  vec: (v: (i: number) => void) => void,
  sca: (s: (i: number) => void) => void,
): void {
  const j = f.local("i32"),
    vcols = f.local("i32"),
    o = f.local("i32");
  f.get(cols).i32(-4).and().set(vcols);
  f.get(out).set(o);
  for (const s of streams)
    if (!s.moving) {
      f.get(s.ptr).load32Splat().set(s.splat);
    }
  f.forRange(j, 0, vcols, 4, () => {
    f.get(o);
    vec((i) => {
      const s = streams[i]!;
      if (s.moving) f.get(s.ptr).v128Load();
      else f.get(s.splat);
    });
    f.v128Store();
    f.inc(o, 16);
    for (const s of streams) if (s.moving) f.inc(s.ptr, 16);
  });
  f.forRange(j, vcols, cols, 1, () => {
    f.get(o);
    sca((i) => {
      f.get(streams[i]!.ptr).f32Load();
    });
    f.f32Store();
    f.inc(o, 4);
    for (const s of streams) if (s.moving) f.inc(s.ptr, 4);
  });
}

/**
 * Rows of a strided kernel: for every combination of moving inputs, a row
 * loop; `rowStart` pointers advance by their row strides.
 */
function stridedRows(
  f: FunctionBuilder,
  out: Local,
  rows: Local,
  cols: Local,
  inputs: { base: Local; row: Local; col: Local }[],
  vec: (v: (i: number) => void) => void,
  sca: (s: (i: number) => void) => void,
): void {
  const r = f.local("i32"),
    o = f.local("i32"),
    mode = f.local("i32");
  const starts = inputs.map(() => f.local("i32")),
    rowBytes = inputs.map(() => f.local("i32"));
  const streams = inputs.map(() => ({ ptr: f.local("i32"), splat: f.local("v128") }));
  inputs.forEach((x, i) => {
    f.get(x.base).set(starts[i]!).get(x.row).i32(4).mul().set(rowBytes[i]!);
  });
  f.i32(0).set(mode);
  inputs.forEach((x, i) => {
    f.get(mode).get(x.col).i32(i).shl().or().set(mode);
  });
  f.get(out).set(o);
  f.forRange(r, 0, rows, 1, () => {
    inputs.forEach((_, i) => {
      f.get(starts[i]!).set(streams[i]!.ptr);
    });
    for (let pattern = 0; pattern < 1 << inputs.length; pattern++) {
      f.get(mode)
        .i32(pattern)
        .eq()
        .ifElse(() => {
          rowLoop(
            f,
            o,
            cols,
            streams.map((s, i) => ({ ...s, moving: ((pattern >> i) & 1) === 1 })),
            vec,
            sca,
          );
        });
    }
    f.get(o).get(cols).i32(4).mul().add().set(o);
    inputs.forEach((_, i) => {
      f.inc(starts[i]!, rowBytes[i]!);
    });
  });
}

function binaryFn(m: ModuleBuilder, name: string, [vop, sop]: [SimdOp, ScalarOp]): void {
  const f = m.fn(name, Array<"i32">(10).fill("i32"));
  const [, out, a, b, rows, cols, aRow, aCol, bRow, bCol] = f.params as Local[] as [
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
  stridedRows(
    f,
    out,
    rows,
    cols,
    [
      { base: a, row: aRow, col: aCol },
      { base: b, row: bRow, col: bCol },
    ],
    (v) => {
      v(0);
      v(1);
      f.simd(vop);
    },
    (s) => {
      s(0);
      s(1);
      f.scalar(sop);
    },
  );
}

function unaryFn(m: ModuleBuilder, name: string, [vop, sop]: [SimdOp, ScalarOp]): void {
  const f = m.fn(name, ["i32", "i32", "i32", "i32"]);
  const [, out, x, n] = f.params as [Local, Local, Local, Local];
  rowLoop(
    f,
    out,
    n,
    [{ ptr: x, moving: true, splat: f.local("v128") }],
    (v) => {
      v(0);
      f.simd(vop);
    },
    (s) => {
      s(0);
      f.scalar(sop);
    },
  );
}

function whereFn(m: ModuleBuilder): void {
  const f = m.fn("where", Array<"i32">(13).fill("i32"));
  const [, out, c, a, b, rows, cols, cRow, cCol, aRow, aCol, bRow, bCol] = f.params as Local[] as Local[] & { length: 13 };
  const r = f.local("i32"),
    j = f.local("i32"),
    vcols = f.local("i32"),
    o = f.local("i32"),
    mode = f.local("i32");
  const inputs = [
    { base: c!, row: cRow!, col: cCol!, w: 1 },
    { base: a!, row: aRow!, col: aCol!, w: 4 },
    { base: b!, row: bRow!, col: bCol!, w: 4 },
  ];
  const starts = inputs.map(() => f.local("i32")),
    ptrs = inputs.map(() => f.local("i32"));
  const mask = f.local("v128"),
    av = f.local("v128"),
    bv = f.local("v128");
  f.i32(0).set(mode);
  inputs.forEach((x, i) => {
    f.get(x.base).set(starts[i]!).get(mode).get(x.col).i32(i).shl().or().set(mode);
  });
  f.get(cols!).i32(-4).and().set(vcols).get(out!).set(o);
  f.forRange(r, 0, rows!, 1, () => {
    inputs.forEach((_, i) => {
      f.get(starts[i]!).set(ptrs[i]!);
    });
    for (let pattern = 0; pattern < 8; pattern++) {
      const moving = (i: number) => ((pattern >> i) & 1) === 1;
      f.get(mode)
        .i32(pattern)
        .eq()
        .ifElse(() => {
          // a fixed condition is one all-ones/all-zeros mask for the row; fixed values are splats
          if (!moving(0)) f.i32(0).get(ptrs[0]!).load8U().eqz().sub().simd("i32x4.splat").set(mask);
          if (!moving(1)) f.get(ptrs[1]!).load32Splat().set(av);
          if (!moving(2)) f.get(ptrs[2]!).load32Splat().set(bv);
          f.forRange(j, 0, vcols, 4, () => {
            f.get(o);
            if (moving(2)) f.get(ptrs[2]!).v128Load();
            else f.get(bv);
            if (moving(1)) f.get(ptrs[1]!).v128Load();
            else f.get(av);
            if (moving(0))
              f.get(ptrs[0]!).load32Zero().simd("i16x8.extend_low_i8x16_u").simd("i32x4.extend_low_i16x8_u").v128Zero().simd("i32x4.eq");
            else f.get(mask);
            f.simd("v128.bitselect").v128Store();
            f.inc(o, 16);
            inputs.forEach((x, i) => {
              if (moving(i)) f.inc(ptrs[i]!, 4 * x.w);
            });
          });
          f.forRange(j, vcols, cols!, 1, () => {
            f.get(o).get(ptrs[1]!).f32Load().get(ptrs[2]!).f32Load().get(ptrs[0]!).load8U().select().f32Store();
            f.inc(o, 4);
            inputs.forEach((x, i) => {
              if (moving(i)) f.inc(ptrs[i]!, x.w);
            });
          });
        });
    }
    inputs.forEach((x, i) => {
      f.get(starts[i]!).get(x.row).i32(x.w).mul().add().set(starts[i]!);
    });
  });
}

/** rowsum: float64 accumulation (two f64x2 accumulators and a scalar tail), rounded once. */
function rowSumFn(m: ModuleBuilder): void {
  const f = m.fn("rowsum", ["i32", "i32", "i32", "i32", "i32"]);
  const [, out, x, rows, cols] = f.params as [Local, Local, Local, Local, Local];
  const r = f.local("i32"),
    j = f.local("i32"),
    vcols = f.local("i32"),
    p = f.local("i32"),
    o = f.local("i32");
  const acc0 = f.local("v128"),
    acc1 = f.local("v128"),
    tail = f.local("f64");
  f.get(cols).i32(-4).and().set(vcols).get(x).set(p).get(out).set(o);
  f.forRange(r, 0, rows, 1, () => {
    f.v128Zero().set(acc0).v128Zero().set(acc1).f64Const(0).set(tail);
    f.forRange(j, 0, vcols, 4, () => {
      f.get(acc0).get(p).load64Zero().simd("f64x2.promote_low_f32x4").simd("f64x2.add").set(acc0);
      f.get(acc1).get(p).load64Zero(8).simd("f64x2.promote_low_f32x4").simd("f64x2.add").set(acc1);
      f.inc(p, 16);
    });
    f.forRange(j, vcols, cols, 1, () => {
      f.get(tail).get(p).f32Load().scalar("f64.promote_f32").scalar("f64.add").set(tail);
      f.inc(p, 4);
    });
    f.get(o);
    f.get(acc0).get(acc1).simd("f64x2.add").set(acc0);
    f.get(acc0).f64x2ExtractLane(0).get(acc0).f64x2ExtractLane(1).scalar("f64.add").get(tail).scalar("f64.add");
    f.scalar("f32.demote_f64").f32Store();
    f.inc(o, 4);
  });
}

/** colsum: every row added into float64 column sums in ws, two columns per vector, then rounded once. */
function colSumFn(m: ModuleBuilder): void {
  const f = m.fn("colsum", ["i32", "i32", "i32", "i32", "i32", "i32"]);
  const [ws, out, x, rows, cols, ld] = f.params as [Local, Local, Local, Local, Local, Local];
  const r = f.local("i32"),
    j = f.local("i32"),
    pairs = f.local("i32"),
    p = f.local("i32"),
    a = f.local("i32"),
    rowBytes = f.local("i32");
  f.get(cols).i32(-2).and().set(pairs).get(ld).i32(4).mul().set(rowBytes);
  f.get(ws).set(a);
  f.forRange(j, 0, cols, 1, () => {
    f.get(a).f64Const(0).f64Store();
    f.inc(a, 8);
  });
  f.forRange(r, 0, rows, 1, () => {
    f.get(x).get(r).get(rowBytes).mul().add().set(p).get(ws).set(a);
    f.forRange(j, 0, pairs, 2, () => {
      f.get(a).get(a).v128Load().get(p).load64Zero().simd("f64x2.promote_low_f32x4").simd("f64x2.add").v128Store();
      f.inc(a, 16).inc(p, 8);
    });
    f.forRange(j, pairs, cols, 1, () => {
      f.get(a).get(a).f64Load().get(p).f32Load().scalar("f64.promote_f32").scalar("f64.add").f64Store();
      f.inc(a, 8).inc(p, 4);
    });
  });
  f.get(ws).set(a).get(out).set(p);
  f.forRange(j, 0, cols, 1, () => {
    f.get(p).get(a).f64Load().scalar("f32.demote_f64").f32Store();
    f.inc(a, 8).inc(p, 4);
  });
}

/** rowmax: NaN if the row has one, else its largest value. */
function rowMaxFn(m: ModuleBuilder): void {
  const f = m.fn("rowmax", ["i32", "i32", "i32", "i32", "i32"]);
  const [, out, x, rows, cols] = f.params as [Local, Local, Local, Local, Local];
  const r = f.local("i32"),
    j = f.local("i32"),
    vcols = f.local("i32"),
    p = f.local("i32"),
    o = f.local("i32");
  const acc = f.local("v128"),
    best = f.local("f32");
  f.get(cols).i32(-4).and().set(vcols).get(x).set(p).get(out).set(o);
  f.forRange(r, 0, rows, 1, () => {
    f.f32Const(-Infinity).simd("f32x4.splat").set(acc).f32Const(-Infinity).set(best);
    f.forRange(j, 0, vcols, 4, () => {
      f.get(acc).get(p).v128Load().simd("f32x4.max").set(acc);
      f.inc(p, 16);
    });
    f.forRange(j, vcols, cols, 1, () => {
      f.get(best).get(p).f32Load().scalar("f32.max").set(best);
      f.inc(p, 4);
    });
    for (let lane = 0; lane < 4; lane++) f.get(best).get(acc).f32x4ExtractLane(lane).scalar("f32.max").set(best);
    f.get(o).get(best).f32Store();
    f.inc(o, 4);
  });
}

/**
 * The jit's fused float32 pointwise programs (src/prims/fused.ts) as
 * WebAssembly SIMD: one generated function per program structure, which
 * keeps every intermediate in a register (four lanes) and writes only the
 * program's outputs.
 *
 * Each step is the instruction, or the transcendental emitter, that the
 * single-op kernel of elementwise-module.ts uses, and every intermediate is
 * a float32 as that kernel would have stored it, so a fused program's
 * results are bit-identical to its primitives run one at a time on those
 * kernels. Comparisons give lane masks that only `where` reads, as the
 * bool tensors they stand for would be read.
 *
 * Export: fused(ws, table, start, end, period, repeat, repeatPeriod)
 * computes elements [start, end). `table` holds the i32 byte addresses of
 * the inputs, then of the outputs. An input is whole (element i), scalar
 * (element 0), periodic (element i mod period) or repeated (element
 * floor(i / repeat), mod repeatPeriod where that is not 0: a per-row
 * statistic); a program's periodic inputs share one period and its
 * repeated ones one (repeat, repeatPeriod). The loop runs in segments that
 * cross no period or repeat boundary, in which a repeated input is one
 * value: four lanes at a time, then one.
 */
import type { PointwiseInput, PointwiseProgram, PointwiseStep } from "../../../prims/index.js";
import { SIMPLE_UNARY, WASM_BINARY } from "./elementwise-module.js";
import { ModuleBuilder, type Local, type SIMD_OPS } from "./encoder.js";
import { TRANSCENDENTALS } from "./transcendentals.js";

type SimdOp = keyof typeof SIMD_OPS;

const COMPARE: Readonly<Record<string, SimdOp>> = {
  equal: "f32x4.eq",
  notEqual: "f32x4.ne",
  greater: "f32x4.gt",
  greaterEqual: "f32x4.ge",
  less: "f32x4.lt",
  lessEqual: "f32x4.le",
};

/** How an input is read: scalar, whole, periodic (repeat 1), repeated (with a period, or without). */
export type InputClass = "s" | "w" | "p" | "r" | "rp";
export function classOf(x: PointwiseInput): InputClass {
  if (x.scalar) return "s";
  if (x.repeat > 1) return x.period > 0 ? "rp" : "r";
  return x.period > 0 ? "p" : "w";
}

/** What a value is in registers: four float32 lanes, or a comparison's lane mask. */
type Kind = "f32" | "mask";

/** The kind of each value of `p`, or null if this module cannot run it. */
function kinds(p: PointwiseProgram): Kind[] | null {
  if (!p.inputs.every((x) => x.dtype === "float32")) return null;
  const periods = new Set(p.inputs.filter((x) => classOf(x) === "p").map((x) => x.period));
  const repeats = new Set(p.inputs.filter((x) => classOf(x).startsWith("r")).map((x) => `${x.repeat}:${x.period}`));
  if (periods.size > 1 || repeats.size > 1) return null;
  const kind: Kind[] = p.inputs.map(() => "f32");
  const all = (s: PointwiseStep, ks: readonly Kind[]) => s.args.every((a, i) => kind[a] === ks[Math.min(i, ks.length - 1)]);
  for (const s of p.steps) {
    const name = s.prim;
    if (s.dtype === "float32" && (WASM_BINARY[name] || SIMPLE_UNARY[name] || TRANSCENDENTALS[name]) && all(s, ["f32"])) kind.push("f32");
    else if (s.dtype === "bool" && COMPARE[name] && all(s, ["f32"])) kind.push("mask");
    else if (s.dtype === "float32" && name === "where" && all(s, ["mask", "f32"])) kind.push("f32");
    else return null;
  }
  return p.outputs.every((o) => kind[o] === "f32") ? kind : null;
}

/** Whether `p` runs here: float32 values, the steps above, one period, one repeat. */
export const fusable = (p: PointwiseProgram): boolean => kinds(p) !== null;

/** A key of the program's structure and dtypes (its shape and period are arguments, not part of the code). */
export function structureKey(p: PointwiseProgram): string {
  const ins = p.inputs.map((x) => `${x.dtype}:${classOf(x)}`).join(",");
  const steps = p.steps.map((s) => `${s.prim}(${s.args.join(",")}):${s.dtype}`).join(";");
  return `${ins}|${steps}|${p.outputs.join(",")}`;
}

const LOW_TO_FRONT = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];
const JOIN_LOWS = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];

/** The module of one fusable program: exports `fused`. */
export function buildFusedModule(p: PointwiseProgram, memory: { initialPages: number; maxPages: number }): Uint8Array {
  const kind = kinds(p);
  if (!kind) throw new Error("buildFusedModule: the program has a step the Wasm loop does not run");
  const m = new ModuleBuilder();
  const f = m.fn("fused", ["i32", "i32", "i32", "i32", "i32", "i32", "i32"]);
  const [, table, start, end, period, repeat, repeatPeriod] = f.params as Local[] as [Local, Local, Local, Local, Local, Local, Local];
  const nIn = p.inputs.length;
  const base = [...p.inputs, ...p.outputs].map(() => f.local("i32"));
  base.forEach((b, k) =>
    f
      .get(table)
      .i32Load(4 * k)
      .set(b),
  );
  const val = kind.map(() => f.local("v128"));
  p.inputs.forEach((x, k) => {
    if (x.scalar) f.get(base[k]!).load32Splat().set(val[k]!);
  });
  const classes = p.inputs.map(classOf);
  const periodic = classes.includes("p"),
    repeated = classes.find((c) => c === "r" || c === "rp");
  const [i, c, bound, segEnd, shift, off, row] = Array.from({ length: 7 }, () => f.local("i32"));
  const x64 = f.local("v128"),
    lo = f.local("v128"),
    hi = f.local("v128");
  const emitters = new Map<string, (x: Local) => void>();
  const emitter = (name: string) => {
    let e = emitters.get(name);
    if (!e) emitters.set(name, (e = TRANSCENDENTALS[name]!(f)));
    return e;
  };

  /** One transcendental of `a` into `into`: float64 lanes, two at a time, as un_<name> computes it. */
  const transcendental = (name: string, a: Local, into: Local, lanes: 1 | 4) => {
    const emit = emitter(name);
    f.get(a).simd("f64x2.promote_low_f32x4").set(x64);
    emit(x64);
    f.simd("f32x4.demote_f64x2_zero");
    if (lanes === 1) return void f.set(into);
    f.set(lo);
    f.get(a).get(a).shuffle(LOW_TO_FRONT).simd("f64x2.promote_low_f32x4").set(x64);
    emit(x64);
    f.simd("f32x4.demote_f64x2_zero").set(hi);
    f.get(lo).get(hi).shuffle(JOIN_LOWS).set(into);
  };

  /** The program on elements i.. (four lanes, or one in lane 0). */
  const body = (lanes: 1 | 4) => {
    f.get(i).i32(2).shl().set(off);
    p.inputs.forEach((_, k) => {
      if (classes[k] !== "w" && classes[k] !== "p") return; // scalars and repeated inputs are splat per call or segment
      f.get(base[k]!).get(off).add();
      if (classes[k] === "p") f.get(shift).add();
      (lanes === 4 ? f.v128Load() : f.load32Splat()).set(val[k]!);
    });
    p.steps.forEach((s, j) => {
      const into = val[nIn + j]!,
        operand = (a: number) => val[s.args[a]!]!;
      if (TRANSCENDENTALS[s.prim]) transcendental(s.prim, operand(0), into, lanes);
      else if (s.prim === "where") f.get(operand(1)).get(operand(2)).get(operand(0)).simd("v128.bitselect").set(into);
      else if (SIMPLE_UNARY[s.prim]) f.get(operand(0)).simd(SIMPLE_UNARY[s.prim]![0]).set(into);
      else
        f.get(operand(0))
          .get(operand(1))
          .simd(WASM_BINARY[s.prim]?.[0] ?? COMPARE[s.prim]!)
          .set(into);
    });
    p.outputs.forEach((o, j) => {
      f.get(base[nIn + j]!)
        .get(off)
        .add()
        .get(val[o]!);
      if (lanes === 4) f.v128Store();
      else f.f32x4ExtractLane(0).f32Store();
    });
  };

  f.get(start).set(i);
  f.block(() =>
    f.loop(() => {
      f.get(i).get(end).geS().brIf(1);
      f.get(end).set(segEnd);
      if (periodic) {
        // a segment ends at the next period boundary; periodic inputs are read at base + 4·(i mod period)
        f.get(i).get(period).remU().set(c);
        f.get(i).get(c).sub().get(period).add().set(bound);
        f.minS(bound, segEnd).set(segEnd);
        f.get(c).get(i).sub().i32(2).shl().set(shift);
      }
      if (repeated) {
        // ... and at the next repeat boundary, where a repeated input takes its next element
        f.get(i).get(repeat).divU().set(row);
        f.get(row).i32(1).add().get(repeat).mul().set(bound);
        f.minS(bound, segEnd).set(segEnd);
        if (repeated === "rp") f.get(row).get(repeatPeriod).remU().set(row);
        p.inputs.forEach((_, k) => {
          if (classes[k] === "r" || classes[k] === "rp") f.get(base[k]!).get(row).i32(2).shl().add().load32Splat().set(val[k]!);
        });
      }
      for (const lanes of [4, 1] as const)
        f.block(() =>
          f.loop(() => {
            f.get(segEnd).get(i).i32(lanes).add().ltS().brIf(1);
            body(lanes);
            f.inc(i, lanes).br(0);
          }),
        );
      f.br(0);
    }),
  );
  return m.encode(memory);
}

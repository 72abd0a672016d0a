/**
 * The cpu renderers of fused pointwise programs (src/prims/fused.ts).
 *
 * - float32 programs from MIN_ELEMENTS on (where the single-op kernels are
 *   Wasm SIMD) run on a generated Wasm SIMD loop (wasm/fused-module.ts)
 *   built from those kernels' own instructions;
 * - the rest run on one generated JavaScript loop per program shape, which
 *   V8 compiles to a tight loop with each row's scalar function inlined.
 *   Intermediates stay in locals; each is rounded to its dtype exactly as
 *   the single-op JS kernels store it (Math.fround for float32, ToInt32 for
 *   int32).
 *
 * Either way the results are bit-identical to the program's primitives run
 * one at a time.
 */
import { BINARY, UNARY, type PointwiseInput, type PointwiseProgram, type PointwiseStep } from "../../prims/index.js";
import type { DType, StorageArray } from "../../tensor/dtype.js";
import { AnchorError } from "../../tensor/errors.js";
import { sizeOf } from "../../tensor/shape.js";
import { releaseBuffer, takeBuffer } from "./pool.js";
import { MIN_ELEMENTS } from "./wasm/elementwise.js";
import { wasmPointwise, wasmRuns } from "./wasm/fused.js";
import { wasmEnabled } from "./wasm/runtime.js";

type Loop = (ins: readonly StorageArray[], outs: StorageArray[], n: number, fns: readonly ((...xs: number[]) => number)[]) => void;

const ROW_FN = new Map<string, (...xs: number[]) => number>([
  ...UNARY.map((r) => [r.name, r.js] as const),
  ...BINARY.map((r) => [r.name, r.js] as const),
]);

const round: Record<DType, (e: string) => string> = {
  float32: (e) => `fround(${e})`,
  float64: (e) => e,
  int32: (e) => `(${e}) | 0`,
  bool: (e) => `+!!(${e})`,
  float16: () => {
    throw new AnchorError("fused kernels do not store half precision");
  },
  bfloat16: () => {
    throw new AnchorError("fused kernels do not store half precision");
  },
};

function stepExpr(s: PointwiseStep, k: number, v: (i: number) => string): string {
  if (s.prim === "where") return `(${v(s.args[0]!)} ? ${v(s.args[1]!)} : ${v(s.args[2]!)})`;
  if (s.prim === "cast") return s.dtype === "int32" ? `Math.trunc(${v(s.args[0]!)})` : v(s.args[0]!);
  return `f${k}(${s.args.map(v).join(", ")})`;
}

/** The input element that output element i reads. */
function elementIndex(x: PointwiseInput): string {
  const at = x.repeat > 1 ? `Math.floor(i / ${x.repeat})` : "i";
  return x.period ? `${at} % ${x.period}` : at;
}

/** The loop's source: signature-keyed, so programs of one structure share a compiled function. */
function render(p: PointwiseProgram): { source: string; fns: ((...xs: number[]) => number)[] } {
  const n = p.inputs.length;
  const v = (i: number) => `v${i}`;
  const fns: ((...xs: number[]) => number)[] = [];
  const head = [`const fround = Math.fround;`];
  p.steps.forEach((s, k) => {
    if (s.prim !== "where" && s.prim !== "cast") {
      head.push(`const f${k} = fns[${fns.length}];`);
      fns.push(ROW_FN.get(s.prim)!);
    }
  });
  p.inputs.forEach((x, i) => head.push(`const in${i} = ins[${i}];`, ...(x.scalar ? [`const v${i} = in${i}[0];`] : [])));
  p.outputs.forEach((_, j) => head.push(`const out${j} = outs[${j}];`));
  const body = [
    ...p.inputs.flatMap((x, i) => (x.scalar ? [] : [`const v${i} = in${i}[${elementIndex(x)}];`])),
    ...p.steps.map((s, k) => `const v${n + k} = ${round[s.dtype](stepExpr(s, k, v))};`),
    ...p.outputs.map((o, j) => `out${j}[i] = ${v(o)};`),
  ];
  return { source: [...head, `for (let i = 0; i < n; i++) {`, ...body.map((l) => "  " + l), `}`].join("\n"), fns };
}

/** Loops by source: programs of one structure (another plan, another leaf) share a compiled function. */
const bySource = new Map<string, Loop>();

interface Compiled {
  readonly loop: Loop;
  readonly fns: readonly ((...xs: number[]) => number)[];
  readonly outDtypes: readonly DType[];
}

/** Each program is rendered once: a plan hands the same program object to every call. */
const byProgram = new WeakMap<PointwiseProgram, Compiled>();

function compile(p: PointwiseProgram): Compiled {
  let c = byProgram.get(p);
  if (!c) {
    const { source, fns } = render(p);
    let loop = bySource.get(source);
    if (!loop) {
      loop = new Function("ins", "outs", "n", "fns", source) as Loop;
      bySource.set(source, loop);
    }
    const dtypeOf = (i: number) => (i < p.inputs.length ? p.inputs[i]!.dtype : p.steps[i - p.inputs.length]!.dtype);
    c = { loop, fns, outDtypes: p.outputs.map(dtypeOf) };
    byProgram.set(p, c);
  }
  return c;
}

/**
 * Past this many elements a float32 program that the Wasm loop cannot run
 * is faster as its single-op kernels (Wasm SIMD on worker threads) than as
 * one scalar JS loop; below it, the per-op overhead the loop saves
 * dominates. float64 has no SIMD kernels, so its programs are always fused.
 * (Measured on 2 cores: the JS loop wins ~3.5x in float64 at 2^20 elements
 * and loses ~4x in float32.)
 */
export const MAX_FUSED_FLOAT32 = 4096;

/** Whether the scalar loop beats the program's own kernels here. */
function worthFusing(p: PointwiseProgram): boolean {
  const float32 = p.steps.some((s) => s.dtype === "float32") || p.inputs.some((x) => x.dtype === "float32");
  return !float32 || sizeOf(p.shape) <= MAX_FUSED_FLOAT32;
}

/** Run a fused program over typed arrays, one new buffer per output; null where the single-op kernels are faster. */
export function runPointwise(p: PointwiseProgram, inputs: readonly StorageArray[]): StorageArray[] | null {
  const n = sizeOf(p.shape);
  if (wasmEnabled && n >= MIN_ELEMENTS && p.outputs.length > 0 && wasmRuns(p)) {
    const outs = p.outputs.map(() => takeBuffer("float32", n, true));
    if (wasmPointwise(p, inputs, outs)) return outs;
    for (const o of outs) releaseBuffer(o, "float32");
  }
  if (!worthFusing(p)) return null;
  const { loop, fns, outDtypes } = compile(p);
  const outs = outDtypes.map((dtype) => takeBuffer(dtype, n, true));
  loop(inputs, outs, n, fns);
  return outs;
}

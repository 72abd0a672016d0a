/**
 * Elementwise CPU kernels specialised per operation and dtypes.
 *
 * A kernel loop that calls `fn(x)` through a closure made by one factory
 * shares that call site with every other op the factory made, so V8 sees it
 * as megamorphic and never inlines `fn`: 20+ ns an element. Here each (op,
 * input dtypes, output dtype) gets its own compiled loop (`new Function`, so
 * its own feedback and optimised code), in which the scalar function and the
 * typed-array kinds are monomorphic and inline: ~1 ns an element for
 * arithmetic. The scalar functions are the op table's own (`row.js`), so
 * results are bit-identical to the generic loops.
 *
 * Large float32 ops of the ones the Wasm SIMD kernels have (arithmetic,
 * min/max, neg, abs, sqrt, exp, where) run there instead, on every thread.
 *
 * Broadcasting runs without index arrays: the output is collapsed to as few
 * dims as the inputs' strides allow, and the innermost dim is a contiguous
 * run in which each input either advances (stride 1) or repeats (stride 0).
 */
import type { DType, StorageArray } from "../../tensor/dtype.js";
import { takeBuffer } from "./pool.js";
import { wasmElementwise } from "./wasm/elementwise.js";
import { broadcastStrides, collapse, sizeOf } from "../../tensor/shape.js";
import type { BufferRef, OutSpec } from "../backend.js";

type Ref = BufferRef<StorageArray>;
type ScalarFn = (...xs: number[]) => number;
/** One contiguous run: out[o + j] = fn(X_k[o_k + j * s_k]) for j < len, s_k in {0, 1}. */
type Run = (out: StorageArray, o: number, len: number, ...inputs: (StorageArray | number)[]) => void;

/** Source of a run function for `arity` inputs: one loop per stride pattern. */
function runSource(arity: number): string {
  const params = Array.from({ length: arity }, (_, k) => `X${k}, o${k}, s${k}`).join(", ");
  const cases: string[] = [];
  for (let mask = 0; mask < 1 << arity; mask++) {
    const moving = (k: number) => (mask >> k) & 1;
    const hoist = Array.from({ length: arity }, (_, k) => (moving(k) ? "" : `const v${k} = X${k}[o${k}];`)).join(" ");
    const args = Array.from({ length: arity }, (_, k) => (moving(k) ? `X${k}[o${k} + j]` : `v${k}`)).join(", ");
    cases.push(`case ${mask}: { ${hoist} for (let j = 0; j < len; j++) out[o + j] = f(${args}); return; }`);
  }
  const sel = Array.from({ length: arity }, (_, k) => `(s${k} << ${k})`).join(" | ");
  return `return function run(out, o, len, ${params}) { switch (${sel}) { ${cases.join(" ")} } };`;
}

const runs = new Map<string, Run>();

function compiledRun(name: string, fn: ScalarFn, arity: number, dtypes: readonly DType[]): Run {
  const key = `${name}(${dtypes.join(",")})`;
  let run = runs.get(key);
  if (!run) {
    run = new Function("f", runSource(arity))(fn) as Run;
    runs.set(key, run);
  }
  return run;
}

/** An elementwise kernel over any number of broadcast inputs. */
export function specializedKernel(name: string, fn: ScalarFn) {
  return (inputs: readonly Ref[], _p: unknown, out: OutSpec): StorageArray => {
    const res = takeBuffer(out.dtype, sizeOf(out.shape), true);
    if (res.length === 0 || wasmElementwise(name, inputs, out, res)) return res;
    const run = compiledRun(name, fn, inputs.length, [...inputs.map((x) => x.dtype), out.dtype]);
    const { shape, strides } = collapse(
      out.shape,
      inputs.map((x) => broadcastStrides(x.shape, out.shape)),
    );
    const r = shape.length;
    const len = r ? shape[r - 1]! : 1;
    const args: (StorageArray | number)[] = [];
    for (let k = 0; k < inputs.length; k++) args.push(inputs[k]!.buf, 0, r ? strides[k]![r - 1]! : 0);
    const idx = new Array<number>(Math.max(0, r - 1)).fill(0);
    for (let o = 0; o < res.length; o += len) {
      run(res, o, len, ...args);
      // advance the odometer over the outer dims, moving each input's offset
      for (let d = r - 2; d >= 0; d--) {
        for (let k = 0; k < inputs.length; k++) (args[3 * k + 1] as number) += strides[k]![d]!;
        if (++idx[d]! < shape[d]!) break;
        for (let k = 0; k < inputs.length; k++) (args[3 * k + 1] as number) -= strides[k]![d]! * shape[d]!;
        idx[d] = 0;
      }
    }
    return res;
  };
}

/**
 * jit(f): trace f once per signature (pytree structure, shapes, dtypes,
 * devices, static values) into a Graph, plan it, and run the plan on later
 * calls. The plan fuses runs of elementwise primitives into one pointwise
 * program per run (src/prims/fused.ts), which the backend renders as one
 * kernel (a generated WGSL shader; on the cpu a generated JS loop, where
 * that beats the SIMD single-op kernels), so the intermediates of a chain
 * are never materialized; every other primitive runs through bind as in
 * eager mode, and each intermediate is released after its last use.
 *
 * Under a gradient transform (arguments boxed by an active tape) or inside
 * another trace, a jitted function runs f itself, so the outer transform
 * sees every primitive: grad(jit(f)) and jit(grad(f)) both work.
 */
import type { Backend } from "../backends/backend.js";
import {
  BINARY,
  UNARY,
  castPrim,
  wherePrim,
  type ParamsOf,
  type PointwiseProgram,
  type PointwisePrim,
  type Primitive,
} from "../prims/index.js";
import { isHalf } from "../tensor/dtype.js";
import { AnchorError } from "../tensor/errors.js";
import { treeFlatten, treeUnflatten, type TreeDef } from "../tensor/pytree.js";
import { fmt, sameShape, sizeOf, type Shape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { ABSTRACT, stopGradientPrim, type Eqn, type Graph, type Var } from "./graph.js";
import { traceGraph } from "./make-graph.js";
import { bind } from "./trace.js";

export interface JitOptions {
  /** Positions of arguments that are compile-time values (JSON-comparable): a new value retraces. */
  static?: readonly number[];
}

/** How often a signature may change before jit warns that it keeps retracing. */
export const RETRACE_WARNING = 8;
const CACHE_SIZE = 32;

type Fused = { kind: "fused"; eqns: readonly Eqn[]; inputs: readonly Var[]; outputs: readonly Var[]; program: PointwiseProgram };
/** A matmul whose product only a one-output program reads (input `slot`): the program rides on the matmul's store. */
type Epilogued = { kind: "matmul"; matmul: Eqn; epilogue: Fused; slot: number };
type Step = { kind: "eqn"; eqn: Eqn } | Fused | Epilogued;

interface Plan {
  readonly graph: Graph;
  readonly steps: readonly Step[];
  /** The graph's outputs, identities (stopGradient) resolved. */
  readonly outputs: readonly Var[];
  /** For each Var id, how many steps (and outputs) read it: when the count runs out, its tensor is released. */
  readonly uses: ReadonlyMap<number, number>;
}

export interface Jitted<F extends (...args: any[]) => any> {
  (...args: Parameters<F>): ReturnType<F>;
  /** How many times f was traced (once per new signature). */
  readonly traces: number;
  /** The graph of the last trace, for inspection. */
  readonly lastGraph: Graph | null;
  /** Milliseconds spent compiling (tracing and planning), summed over every trace. */
  readonly compileMs: number;
}

/** f compiled per call signature; same results as f (see the module comment for what is fused). */
export function jit<F extends (...args: any[]) => any>(f: F, opts: JitOptions = {}): Jitted<F> {
  const statics = new Set(opts.static ?? []);
  const cache = new Map<string, Plan>();
  let traces = 0;
  let compileMs = 0;
  let lastKeys: string[] | null = null;
  let lastGraph: Graph | null = null;

  const call = (...args: Parameters<F>): ReturnType<F> => {
    const dynamic = args.map((a, i) => (statics.has(i) ? null : a));
    const flat = dynamic.map((a) => treeFlatten(a)); // once per call: the key and the plan's inputs both come from it
    const leaves = flat.flatMap((arg) => arg.leaves);
    if (leaves.some((t) => t._box?.tape.active || t.device === ABSTRACT)) return f(...args); // an outer transform traces f itself
    const keys = args.map((a, i) => (statics.has(i) ? staticKey(a, i) : dynamicKey(flat[i]!)));
    const key = keys.join("|");
    let plan = cache.get(key);
    if (!plan) {
      traces++;
      const t0 = performance.now();
      // past the bound, warn at 9, 16, 32, ... traces: loud enough to notice, not a line per call
      if (traces > RETRACE_WARNING && lastKeys && (traces === RETRACE_WARNING + 1 || (traces & (traces - 1)) === 0))
        warnRetrace(f, traces, lastKeys, keys);
      const graph = traceGraph((...dyn: unknown[]) => f(...args.map((a, i) => (statics.has(i) ? a : dyn[i]))), dynamic, "jit");
      plan = planGraph(graph);
      compileMs += performance.now() - t0;
      if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
      cache.set(key, plan);
      lastGraph = graph;
    }
    lastKeys = keys;
    return treeUnflatten(plan.graph.outTree, execute(plan, leaves)) as ReturnType<F>;
  };
  return Object.defineProperties(call, {
    traces: { get: () => traces },
    lastGraph: { get: () => lastGraph },
    compileMs: { get: () => compileMs },
  }) as Jitted<F>;
}

/** A static argument's part of the signature: its JSON value. */
function staticKey(a: unknown, i: number): string {
  if (treeFlatten(a).leaves.length) throw new AnchorError(`jit: static argument ${i} holds tensors; only JSON values can be static`);
  return `static:${JSON.stringify(a)}`;
}

/** A traced argument's part of the signature: its tree structure and each leaf's dtype, shape and device. */
function dynamicKey({ leaves, def }: { leaves: readonly Tensor[]; def: TreeDef }): string {
  const types = leaves.map((t) => `${t.dtype}${fmt(t.shape)}@${t.device}`).join(", ");
  return def.kind === "leaf" ? types : `${JSON.stringify(def)} ${types}`;
}

function warnRetrace(f: (...args: any[]) => unknown, traces: number, before: string[], after: string[]): void {
  const i = after.findIndex((k, j) => k !== before[j]);
  const what = i < 0 ? "the number of arguments" : `argument ${i} (${before[i]} -> ${after[i]})`;
  console.warn(
    `jit: ${f.name || "a function"} was traced ${traces} times; ${what} changes between calls. Keep shapes fixed, or mark it static.`,
  );
}

// --- planning -------------------------------------------------------------------

const ROWS = new Set<string>([...UNARY.map((r) => r.name), ...BINARY.map((r) => r.name)]);

/** The pointwise name of an elementwise primitive, or null for every other primitive. */
function pointwiseOf(prim: Primitive): PointwisePrim | null {
  if (prim === wherePrim) return "where";
  if (prim === castPrim) return "cast";
  return ROWS.has(prim.name) ? (prim.name as PointwisePrim) : null;
}

/**
 * How a fused program over `shape` reads an input of shape `x` whose
 * non-1 axes are one contiguous block of `shape`'s (right-aligned): output
 * element i takes input element floor(i / repeat) mod period (period 0:
 * the block starts at the first axis, so there is nothing to wrap); null
 * for any other broadcast.
 */
function broadcastIndex(x: Shape, shape: Shape): { period: number; repeat: number } | null {
  if (x.length > shape.length) return null;
  const padded = [...Array<number>(shape.length - x.length).fill(1), ...x];
  let first = 0,
    last = padded.length - 1;
  while (first <= last && padded[first] === 1 && shape[first] !== 1) first++;
  while (last >= first && padded[last] === 1 && shape[last] !== 1) last--;
  for (let d = first; d <= last; d++) if (padded[d] !== shape[d]) return null;
  const repeat = sizeOf(shape.slice(last + 1));
  const leading = sizeOf(shape.slice(0, first));
  return { period: leading === 1 ? 0 : sizeOf(padded.slice(first, last + 1)), repeat };
}

/** Whether a fused program over `shape` can read an input of shape `x`. */
const readable = (x: Shape, shape: Shape): boolean => sizeOf(x) === 1 || broadcastIndex(x, shape) !== null;

/** Whether `e` can run inside a fused pointwise program over its own output shape. */
function fusible(e: Eqn): boolean {
  return pointwiseOf(e.prim) !== null && !isHalf(e.out.dtype) && e.inputs.every((x) => !isHalf(x.dtype) && readable(x.shape, e.out.shape));
}

function planGraph(graph: Graph): Plan {
  // stopGradient only marks the graph for the transforms and the exporter: running, it is the identity
  const alias = new Map<number, Var>();
  const resolve = (v: Var) => alias.get(v.id) ?? v;
  const eqns: Eqn[] = [];
  for (const e of graph.eqns) {
    if (e.prim === stopGradientPrim) alias.set(e.out.id, resolve(e.inputs[0]!));
    else eqns.push({ ...e, inputs: e.inputs.map(resolve) });
  }
  const outputs = graph.outputs.map(resolve);

  const reads = new Map<number, number>();
  const read = (v: Var) => reads.set(v.id, (reads.get(v.id) ?? 0) + 1);
  eqns.forEach((e) => e.inputs.forEach(read));
  outputs.forEach(read);

  // Elementwise equations gather in open runs, one per output shape, which
  // other equations that do not read them may pass: the backward pass
  // interleaves a chain's ops with matmuls and reshapes of other values. A
  // run becomes a fused program when something outside it reads one of its
  // values, when it would bind more than MAX_FUSED_BUFFERS buffers (which
  // also bounds how many values a run holds alive past their last use), or
  // at the end.
  const steps: Step[] = [];
  const open = new Map<string, Eqn[]>();
  const runOf = new Map<number, string>();
  const flush = (key: string) => {
    const run = open.get(key)!;
    open.delete(key);
    for (const e of run) runOf.delete(e.out.id);
    steps.push(run.length > 1 ? fuse(run, reads) : { kind: "eqn", eqn: run[0]! });
  };
  /** Materialize the values `e` reads, except those of run `keep`. */
  const settle = (e: Eqn, keep?: string) => {
    for (const x of e.inputs) {
      const key = runOf.get(x.id);
      if (key !== undefined && key !== keep) flush(key);
    }
  };
  for (const e of eqns) {
    if (!fusible(e)) {
      settle(e); // another broadcast, or not elementwise: its own kernel
      steps.push({ kind: "eqn", eqn: e });
      continue;
    }
    const key = fmt(e.out.shape);
    settle(e, key);
    const run = open.get(key);
    if (run && overBound([...run, e], reads)) flush(key);
    if (!open.has(key)) open.set(key, []);
    open.get(key)!.push(e);
    runOf.set(e.out.id, key);
  }
  for (const key of [...open.keys()]) flush(key);

  const planned = withEpilogues(steps, reads);
  // releases count per step: a fused step reads each of its inputs once
  const uses = new Map<number, number>();
  const use = (v: Var) => uses.set(v.id, (uses.get(v.id) ?? 0) + 1);
  for (const st of planned) stepInputs(st).forEach(use);
  outputs.forEach(use);
  return { graph, steps: planned, outputs, uses };
}

/** The values a step reads from the environment (an epilogued product is not one: it never leaves the step). */
function stepInputs(st: Step): readonly Var[] {
  if (st.kind === "eqn") return st.eqn.inputs;
  if (st.kind === "fused") return st.inputs;
  return [...st.matmul.inputs, ...st.epilogue.inputs.filter((_, i) => i !== st.slot)];
}

/**
 * Each matmul whose float32 product is read once, whole, by a one-output
 * elementwise program (a lone elementwise op counts as a program of one
 * step) moves to that program's place and carries it as its epilogue.
 */
function withEpilogues(steps: readonly Step[], reads: ReadonlyMap<number, number>): Step[] {
  const matmulAt = new Map<number, number>();
  steps.forEach((st, i) => {
    if (st.kind === "eqn" && st.eqn.prim.name === "matmul" && st.eqn.out.dtype === "float32" && reads.get(st.eqn.out.id) === 1)
      matmulAt.set(st.eqn.out.id, i);
  });
  const out: (Step | null)[] = [...steps];
  steps.forEach((st, i) => {
    const program = st.kind === "fused" ? st : st.kind === "eqn" && fusible(st.eqn) ? (fuse([st.eqn], reads) as Fused) : null;
    if (!program || program.outputs.length !== 1 || program.program.steps.some((s) => s.dtype !== "float32" && s.dtype !== "bool")) return;
    const slot = program.inputs.findIndex((v, k) => {
      const x = program.program.inputs[k]!;
      return matmulAt.has(v.id) && !x.scalar && x.period === 0 && x.repeat === 1;
    });
    if (slot < 0) return;
    const m = matmulAt.get(program.inputs[slot]!.id)!;
    out[i] = { kind: "matmul", matmul: (steps[m] as { eqn: Eqn }).eqn, epilogue: program, slot };
    out[m] = null;
  });
  return out.filter((st): st is Step => st !== null);
}

/**
 * The most buffers (inputs and outputs) one fused program binds. WebGPU
 * devices cap the storage buffers a shader stage binds (16 on lavapipe; the
 * WebGPU default is 8, most GPUs give 16 or more) and a program over the cap
 * is not rendered there, so a long run (the multi-tensor optimizer update,
 * where leaves of one shape follow each other) would run op by op. Runs are
 * cut into programs within the cap instead; on the cpu the cut only
 * materializes a few intermediates (stored rounded as in the loop, so the
 * values are the same).
 */
export const MAX_FUSED_BUFFERS = 16;

/** Whether `run`'s fused program binds more than MAX_FUSED_BUFFERS buffers. */
const overBound = (run: readonly Eqn[], uses: ReadonlyMap<number, number>): boolean => {
  const f = fuse(run, uses) as Fused;
  return f.inputs.length + f.outputs.length > MAX_FUSED_BUFFERS;
};

/** A run of elementwise equations as one pointwise program. */
function fuse(run: readonly Eqn[], uses: ReadonlyMap<number, number>): Step {
  const produced = new Map(run.map((e, k) => [e.out.id, k]));
  const inputs: Var[] = [];
  const number = new Map<number, number>();
  for (const e of run) {
    for (const x of e.inputs) {
      if (!produced.has(x.id) && !number.has(x.id)) {
        number.set(x.id, inputs.length);
        inputs.push(x);
      }
    }
  }
  const shape = run[0]!.out.shape;
  run.forEach((e, k) => number.set(e.out.id, inputs.length + k));
  const usedInside = new Map<number, number>();
  for (const e of run) for (const x of e.inputs) usedInside.set(x.id, (usedInside.get(x.id) ?? 0) + 1);
  const outputs = run.map((e) => e.out).filter((v) => (uses.get(v.id) ?? 0) > (usedInside.get(v.id) ?? 0));
  const program: PointwiseProgram = {
    shape,
    inputs: inputs.map((x) => {
      const scalar = sizeOf(x.shape) === 1 && !sameShape(x.shape, shape);
      const { period, repeat } = scalar ? { period: 0, repeat: 1 } : broadcastIndex(x.shape, shape)!;
      return { dtype: x.dtype, scalar, period, repeat };
    }),
    steps: run.map((e) => ({ prim: pointwiseOf(e.prim)!, args: e.inputs.map((x) => number.get(x.id)!), dtype: e.out.dtype })),
    outputs: outputs.map((v) => number.get(v.id)!),
  };
  return { kind: "fused", eqns: run, inputs, outputs, program };
}

// --- execution ----------------------------------------------------------------------

function execute(plan: Plan, args: readonly Tensor[]): Tensor[] {
  const { graph } = plan;
  const env = new Map<number, Tensor>();
  graph.inputs.forEach((v, i) => env.set(v.id, args[i]!));
  for (const c of graph.consts) env.set(c.v.id, c.value);
  const owned = new Set(graph.inputs.map((v) => v.id).concat(graph.consts.map((c) => c.v.id)));
  const left = new Map(plan.uses);
  const get = (v: Var) => env.get(v.id)!;
  const release = (vs: readonly Var[]) => {
    for (const v of vs) {
      const n = left.get(v.id)! - 1;
      left.set(v.id, n);
      if (n === 0 && !owned.has(v.id)) env.get(v.id)!.dispose();
    }
  };
  const ref = (x: Tensor) => ({ buf: x._buf, shape: x.shape, dtype: x.dtype });
  /** A fused program's outputs into env: one kernel where the backend has it, else its primitives one at a time. */
  const runFused = (step: Fused, ins: readonly Tensor[]) => {
    const backend = ins[0]!._backend as Backend;
    const bufs = ins.every((x) => x._backend === backend) ? backend.runPointwise?.(step.program, ins.map(ref)) : null;
    if (bufs) {
      step.outputs.forEach((v, j) => env.set(v.id, new Tensor(v.shape, v.dtype, backend, bufs[j])));
      return;
    }
    const local = new Map<number, Tensor>(step.inputs.map((v, i) => [v.id, ins[i]!]));
    for (const e of step.eqns)
      local.set(
        e.out.id,
        bind(
          e.prim,
          e.inputs.map((v) => local.get(v.id)!),
          e.params,
        ),
      );
    const keepIds = new Set(step.outputs.map((v) => v.id));
    for (const e of step.eqns) keepIds.has(e.out.id) ? env.set(e.out.id, local.get(e.out.id)!) : local.get(e.out.id)!.dispose();
  };
  for (const step of plan.steps) {
    if (step.kind === "eqn") {
      env.set(step.eqn.out.id, bind(step.eqn.prim, step.eqn.inputs.map(get), step.eqn.params, step.eqn.out));
    } else if (step.kind === "fused") {
      runFused(step, step.inputs.map(get));
    } else {
      const { matmul, epilogue, slot } = step;
      const [a, b] = matmul.inputs.map(get) as [Tensor, Tensor];
      const others = epilogue.inputs.filter((_, i) => i !== slot).map(get);
      const backend = a._backend as Backend;
      const out = epilogue.outputs[0]!;
      const buf = [b, ...others].every((x) => x._backend === backend)
        ? backend.runMatmulEpilogue?.(
            ref(a),
            ref(b),
            matmul.params as ParamsOf<"matmul">,
            { program: epilogue.program, slot, inputs: others.map(ref) },
            { shape: out.shape, dtype: out.dtype },
          )
        : null;
      if (buf) env.set(out.id, new Tensor(out.shape, out.dtype, backend, buf));
      else {
        const product = bind(matmul.prim, [a, b], matmul.params);
        runFused(
          epilogue,
          epilogue.inputs.map((v, i) => (i === slot ? product : get(v))),
        );
        product.dispose();
      }
    }
    release(stepInputs(step));
  }
  return plan.outputs.map(get);
}

/**
 * Tracing reverse-mode autodiff (HIPS-autograd style boxing with levels).
 *
 * A gradient transform opens a Tape at a new level and boxes its argument.
 * `bind` evaluates a primitive: if any input is boxed by an active tape, the
 * innermost such tape unboxes those inputs, evaluates the primitive one level
 * down (recursively, so outer tapes record too), and boxes the result with a
 * node remembering the primitive and its unboxed inputs. The backward pass
 * runs each node's VJP on those unboxed inputs: when they are themselves
 * boxed by an outer tape, the backward pass is recorded there, which is what
 * makes grad(grad(f)) work.
 */
import type { Backend } from "../backends/backend.js";
import { currentBackend } from "../backends/registry.js";
import { castPrim, type KernelPrim, type Primitive } from "../prims/index.js";
import { isFloat, isHalf } from "../tensor/dtype.js";
import { AnchorError } from "../tensor/errors.js";
import { fmt } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { AbstractDevice } from "./graph.js";

export class Tape {
  private static nextLevel = 0;
  readonly level = ++Tape.nextLevel;
  active = true;
  readonly nodes: Node[] = [];
}

export interface Node {
  readonly id: number;
  readonly prim: Primitive | null; // null for the leaves being differentiated
  readonly params: unknown;
  readonly inputs: readonly Tensor[]; // unboxed one level
  readonly out: Tensor; // unboxed one level
  readonly parents: readonly (Node | null)[];
}

/** Box `primal` as a leaf of `tape`. */
export function leaf(tape: Tape, primal: Tensor): Tensor {
  const node: Node = { id: tape.nodes.length, prim: null, params: null, inputs: [], out: primal, parents: [] };
  tape.nodes.push(node);
  return new Tensor(primal.shape, primal.dtype, primal._backend, null, { primal, tape, node });
}

/** The innermost active tape among the inputs, if any. */
function topTape(inputs: readonly Tensor[]): Tape | null {
  let top: Tape | null = null;
  for (let x of inputs) {
    while (x._box) {
      const tape = x._box.tape as Tape;
      if (tape.active) {
        if (!top || tape.level > top.level) top = tape;
        break;
      }
      x = x._box.primal;
    }
  }
  return top;
}

/** Strip boxes of `tape` and of any finished tapes. */
function unboxFor(x: Tensor, tape: Tape): Tensor {
  while (x._box && (x._box.tape === tape || !x._box.tape.active)) x = x._box.primal;
  return x;
}

/**
 * Evaluate `prim` on `inputs`, recording it on every active tape involved.
 * `known` is the output's shape and dtype where the caller already has them
 * from a trace of the same inputs (the jit's plans), so they are not
 * inferred again.
 */
export function bind<P>(prim: Primitive<P>, inputs: readonly Tensor[], params: P, known?: OutShape): Tensor {
  const tape = topTape(inputs);
  if (!tape)
    return evaluate(
      prim,
      inputs.map((x) => x.concrete()),
      params,
      known,
    );
  const parents = inputs.map((x) => {
    let b = x;
    while (b._box && !b._box.tape.active) b = b._box.primal;
    return b._box?.tape === tape ? (b._box.node as Node) : null;
  });
  const unboxed = inputs.map((x) => unboxFor(x, tape));
  const out = bind(prim, unboxed, params);
  if (prim.flat) return out;
  const node: Node = { id: tape.nodes.length, prim, params, inputs: unboxed, out, parents };
  tape.nodes.push(node);
  return new Tensor(out.shape, out.dtype, out._backend, null, { primal: out, tape, node });
}

/** Nodes hold the tape; read the node of a tracer boxed by `tape`. */
export function nodeOf(x: Tensor, tape: Tape): Node | null {
  let b = x;
  while (b._box && !b._box.tape.active) b = b._box.primal;
  return b._box?.tape === tape ? (b._box.node as Node) : null;
}

// --- concrete evaluation ------------------------------------------------

let debugNans = process.env.ANCHORGRAD_DEBUG_NANS === "1";

/** Throw at the first primitive whose output holds a NaN or Inf (cpu). */
export function setDebugNans(on: boolean): void {
  debugNans = on;
}

/** Every tensor's device is the backend that made its buffer (ops/create.ts or evaluate below). */
const backendOf = (x: Tensor): Backend => x._backend as Backend;

/** An output's shape and dtype, as a primitive's infer gives them. */
interface OutShape {
  readonly shape: readonly number[];
  readonly dtype: Tensor["dtype"];
}

function evaluate<P>(prim: Primitive<P>, inputs: readonly Tensor[], params: P, known?: OutShape): Tensor {
  const staged = inputs.find((x) => x._backend instanceof AbstractDevice)?._backend as AbstractDevice | undefined;
  if (staged) {
    if (prim.impl) return prim.impl(inputs, params); // composites stage as the primitives they run
    return staged.record(prim, params, inputs, prim.infer!(inputs, params));
  }
  const backend = inputs[0] ? backendOf(inputs[0]) : currentBackend();
  for (const x of inputs) {
    if (x._backend !== backend) {
      const devices = [...new Set(inputs.map((t) => t.device))].join(" and ");
      throw new AnchorError(`${prim.name}: inputs live on two backends (${devices}); move them to one with ag.toBackend first`);
    }
  }
  if (prim.impl) return prim.impl(inputs, params);
  const spec = known ?? prim.infer!(inputs, params);
  // half-precision values are stored as such but computed in float32 (by the kernel itself where the backend says so)
  if (prim !== castPrim && inputs.some((x) => isHalf(x.dtype)) && !backend.takesHalf?.(prim.name as KernelPrim)) {
    const up = inputs.map((x) => (isHalf(x.dtype) ? evaluate(castPrim, [x], { dtype: "float32" }) : x));
    const r = evaluate(prim, up, params);
    return isHalf(spec.dtype) ? evaluate(castPrim, [r], { dtype: spec.dtype }) : r;
  }
  const buf = backend.run(
    prim.name as KernelPrim,
    inputs.map((x) => ({ buf: x._buf, shape: x.shape, dtype: x.dtype })),
    params as never,
    spec,
  );
  const out = new Tensor(spec.shape, spec.dtype, backend, buf);
  if (debugNans && isFloat(spec.dtype)) checkFinite(prim, inputs, out);
  return out;
}

function checkFinite(prim: Primitive, inputs: readonly Tensor[], out: Tensor): void {
  let values: ArrayLike<number>;
  try {
    values = out.dataSync();
  } catch {
    return;
  } // async-only backends are not checked
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) {
      throw new AnchorError(
        `debugNans: ${prim.name} produced ${values[i]} at flat index ${i} of its output ${fmt(out.shape)}; input shapes ${inputs.map((x) => fmt(x.shape) + " " + x.dtype).join(", ")}`,
      );
    }
  }
}

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
import { currentBackend } from "../backends/registry.js";
import { isFloat, isHalf, type DType } from "../tensor/dtype.js";
import { AnchorError } from "../tensor/errors.js";
import { fmt } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import type { Primitive } from "./primitive.js";

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

/** Evaluate `prim` on `inputs`, recording it on every active tape involved. */
export function bind<P>(prim: Primitive<P>, inputs: readonly Tensor[], params: P): Tensor {
  const tape = topTape(inputs);
  if (!tape)
    return evaluate(
      prim,
      inputs.map((x) => x.concrete()),
      params,
    );
  const parents = inputs.map((x) => {
    let b = x;
    while (b._box && !b._box.tape.active) b = b._box.primal;
    return b._box?.tape === tape ? (b._box.node as Node) : null;
  });
  const unboxed = inputs.map((x) => unboxFor(x, tape));
  const out = bind(prim, unboxed, params);
  if (!prim.vjp) return out;
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

/**
 * Reverse sweep from `out` (boxed by `tape`) with cotangent `seed`.
 * Returns the cotangent of each leaf (undefined where no path reaches it).
 */
export function backward(
  tape: Tape,
  out: Tensor,
  seed: Tensor,
  leaves: readonly Node[],
  add: (a: Tensor, b: Tensor) => Tensor,
): (Tensor | undefined)[] {
  const start = nodeOf(out, tape);
  const cts = new Map<Node, Tensor>();
  if (start) cts.set(start, seed);
  tape.active = false; // the backward pass is recorded by outer tapes only
  try {
    for (let i = start ? start.id : -1; i >= 0; i--) {
      const node = tape.nodes[i]!;
      const g = cts.get(node);
      if (!g || !node.prim) continue;
      cts.delete(node);
      const grads = node.prim.vjp!(
        g,
        node.inputs,
        node.out,
        node.params,
        node.parents.map((p) => p !== null),
      );
      node.parents.forEach((p, k) => {
        const gk = grads[k];
        if (!p || !gk) return;
        const prev = cts.get(p);
        cts.set(p, prev ? add(prev, gk) : gk);
      });
    }
  } finally {
    tape.active = true;
  }
  return leaves.map((l) => cts.get(l));
}

// --- concrete evaluation ------------------------------------------------

let debugNans = process.env.ANCHORGRAD_DEBUG_NANS === "1";

/** Throw at the first primitive whose output holds a NaN or Inf (cpu). */
export function setDebugNans(on: boolean): void {
  debugNans = on;
}

let castPrim: Primitive<{ dtype: DType }> | null = null;
/** Set by ops/cast.ts: half-precision inputs are computed in float32. */
export function setCastPrimitive(p: Primitive<{ dtype: DType }>): void {
  castPrim = p;
}

function evaluate<P>(prim: Primitive<P>, inputs: readonly Tensor[], params: P): Tensor {
  const backend = inputs[0]?._backend ?? currentBackend();
  for (const x of inputs) {
    if (x._backend !== backend) {
      throw new AnchorError(
        `${prim.name}: inputs live on different devices (${inputs.map((t) => t.device).join(", ")}); move them to one backend first`,
      );
    }
  }
  if (prim.impl) return prim.impl(inputs, params);
  const spec = prim.infer!(inputs, params);
  if (castPrim && prim !== castPrim && inputs.some((x) => isHalf(x.dtype))) {
    const up = inputs.map((x) => (isHalf(x.dtype) ? evaluate(castPrim!, [x], { dtype: "float32" }) : x));
    const r = evaluate(prim, up, params);
    return isHalf(spec.dtype) ? evaluate(castPrim, [r], { dtype: spec.dtype }) : r;
  }
  const buf = backend.run(
    prim.name,
    inputs.map((x) => ({ buf: x._buf, shape: x.shape, dtype: x.dtype })),
    params,
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

/**
 * Function transforms with JAX semantics: differentiate with respect to the
 * first argument (a tensor or a pytree of tensors); other arguments are
 * constants. Every transform nests: grad(grad(f)) is a second derivative.
 */
import { isFloat } from "../tensor/dtype.js";
import { AnchorError, DTypeError } from "../tensor/errors.js";
import { fmt, sameShape } from "../tensor/shape.js";
import { stageStopGradient } from "../ir/graph.js";
import { bind, leaf, Tape, type Node } from "../ir/trace.js";
import { full, zerosLike, onesLike } from "../ops/create.js";
import { add } from "../ops/elementwise.js";
import { defineCustomVjp } from "../ops/derivatives.js";
import type { Primitive } from "../prims/index.js";
import { treeFlatten, treeUnflatten } from "../tensor/pytree.js";
import { Tensor } from "../tensor/tensor.js";
import { backward } from "./backward.js";

type Fn<A, R> = (x: A, ...rest: any[]) => R;

/**
 * Evaluate f at x and return its output with a pullback that maps an output
 * cotangent (same structure as the output) to a cotangent of x.
 */
export function vjp<A, R>(f: Fn<A, R>, x: A, ...rest: any[]): [R, (ct: R) => A] {
  const { leaves, def } = treeFlatten(x);
  leaves.forEach((l, i) => {
    if (!isFloat(l.dtype))
      throw new DTypeError(
        `cannot differentiate with respect to ${l.dtype} input (leaf ${i}, shape ${fmt(l.shape)}); only float tensors have gradients`,
      );
  });
  const tape = new Tape();
  let boxedOut: R;
  let leafNodes: Node[];
  try {
    const boxed = leaves.map((l) => leaf(tape, l));
    leafNodes = boxed.map((b) => b._box!.node as Node);
    boxedOut = f(treeUnflatten<A>(def, boxed), ...rest);
  } finally {
    tape.active = false;
  }
  const outs = treeFlatten(boxedOut);
  const primal = treeUnflatten<R>(
    outs.def,
    outs.leaves.map((o) => unboxTape(o, tape)),
  );
  const pullback = (ct: R): A => {
    const cts = treeFlatten(ct).leaves;
    if (cts.length !== outs.leaves.length)
      throw new AnchorError(`vjp: cotangent has ${cts.length} tensors, the output has ${outs.leaves.length}`);
    tape.active = true;
    let total: (Tensor | undefined)[] = leaves.map(() => undefined);
    try {
      outs.leaves.forEach((o, k) => {
        const c = cts[k]!;
        if (!sameShape(c.shape, o.shape)) throw new AnchorError(`vjp: cotangent ${fmt(c.shape)} does not match output ${fmt(o.shape)}`);
        const g = backward(tape, o, c, leafNodes);
        total = total.map((t, i) => (g[i] ? (t ? add(t, g[i]!) : g[i]) : t));
      });
    } finally {
      tape.active = false;
    }
    return treeUnflatten<A>(
      def,
      total.map((t, i) => t ?? zerosLike(leaves[i]!)),
    );
  };
  return [primal, pullback];
}

function unboxTape(x: Tensor, tape: Tape): Tensor {
  return x._box?.tape === tape ? x._box.primal : x;
}

function scalarSeed(out: unknown, name: string): Tensor {
  if (!(out instanceof Tensor))
    throw new AnchorError(`${name}: the function must return a scalar tensor, got ${out === null ? "null" : typeof out}`);
  if (out.size !== 1)
    throw new AnchorError(`${name}: the function must return a scalar, got shape ${fmt(out.shape)}; reduce it (sum, mean) or use vjp`);
  if (!isFloat(out.dtype)) throw new DTypeError(`${name}: the output is ${out.dtype}; only float outputs can be differentiated`);
  return onesLike(out);
}

/** (x, ...rest) => [f(x, ...rest), ∇ₓf]; f must return a float scalar. */
export function valueAndGrad<A>(f: Fn<A, Tensor>): (x: A, ...rest: any[]) => [Tensor, A] {
  return (x, ...rest) => {
    const [out, pullback] = vjp(f, x, ...rest);
    return [out, pullback(scalarSeed(out, "grad"))];
  };
}

/** (x, ...rest) => ∇ₓf; f must return a float scalar. */
export function grad<A>(f: Fn<A, Tensor>): (x: A, ...rest: any[]) => A {
  const vg = valueAndGrad(f);
  return (x, ...rest) => vg(x, ...rest)[1];
}

/**
 * Forward-mode product J·v, computed by transposing the (linear) pullback:
 * jvp(f, x, v) = d/du [ vjp(f, x)(u) · v ], so it nests like the rest.
 */
export function jvp<A>(f: Fn<A, Tensor>, x: A, v: A, ...rest: any[]): [Tensor, Tensor] {
  const [out, pullback] = vjp(f, x, ...rest);
  const seed = full(out.shape, 0, { dtype: out.dtype, device: out.device });
  const [, back] = vjp((u: Tensor) => pullback(u) as unknown as Tensor, seed);
  // back maps a cotangent of x (here v) to J·v
  return [out, back(v as unknown as Tensor) as unknown as Tensor];
}

/** The same value, with no gradient flowing through it at any level. */
export function stopGradient<T extends Tensor>(x: T): Tensor {
  return stageStopGradient(x.concrete());
}

/**
 * A function with a hand-written VJP. `bwd(g, inputs, out)` returns one
 * cotangent (or null) per tensor input, written with ops.
 */
export function customVjp(
  fwd: (...inputs: Tensor[]) => Tensor,
  bwd: (g: Tensor, inputs: readonly Tensor[], out: Tensor) => (Tensor | null)[],
  name = "customVjp",
): (...inputs: Tensor[]) => Tensor {
  const prim: Primitive = { name, impl: (inputs) => fwd(...inputs) };
  defineCustomVjp(prim, (g, inputs, out) => {
    const gs = bwd(g, inputs, out);
    if (gs.length !== inputs.length)
      throw new AnchorError(`${name}: backward returned ${gs.length} cotangents for ${inputs.length} inputs`);
    return gs;
  });
  return (...inputs) => bind(prim, inputs, {});
}

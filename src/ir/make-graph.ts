/**
 * makeGraph(f)(...args): trace f on abstract stand-ins of its tensor
 * arguments and return the Graph of primitives it applies (src/ir/graph.ts).
 * Non-tensor arguments are static parts of the trace, as in jax.make_jaxpr.
 */
import { treeFlatten, treeUnflatten, type TreeDef } from "../tensor/pytree.js";
import type { Tensor } from "../tensor/tensor.js";
import { ABSTRACT, AbstractDevice, graphToString, withTraceHome, type Eqn, type Graph, type Var } from "./graph.js";

class StagedGraph implements Graph {
  constructor(
    readonly inputs: readonly Var[],
    readonly consts: readonly { readonly v: Var; readonly value: Tensor }[],
    readonly eqns: readonly Eqn[],
    readonly outputs: readonly Var[],
    readonly inTree: TreeDef,
    readonly outTree: TreeDef,
    readonly device: string | null,
  ) {}

  toString(): string {
    return graphToString(this);
  }
}

/** Trace `f` at the shapes and dtypes of `args` (`purpose` names the tracer in errors). */
export function traceGraph(f: (...args: any[]) => unknown, args: readonly unknown[], purpose: string): Graph {
  const dev = new AbstractDevice(purpose);
  const { leaves, def } = treeFlatten(args);
  const stand = leaves.map((l) => dev.input(l.shape, l.dtype));
  const home = leaves.find((l) => l.device !== ABSTRACT)?.device ?? null;
  const out = withTraceHome(home, () => f(...treeUnflatten<unknown[]>(def, stand)));
  const flat = treeFlatten(out);
  const outputs = flat.leaves.map((o) => dev.varOf(o, "the output"));
  const inputs = stand.map((t) => dev.varOf(t, "an input"));
  const device = dev.constDevice ?? leaves[0]?.device ?? null;
  return new StagedGraph(inputs, dev.consts, dev.eqns, outputs, def, flat.def, device);
}

/** (...args) => the Graph of `f` at the shapes and dtypes of args; String(graph) prints it like a jaxpr. */
export function makeGraph(f: (...args: any[]) => unknown): (...args: unknown[]) => Graph {
  return (...args) => traceGraph(f, args, "makeGraph");
}

/**
 * Pytrees: nested plain objects and arrays whose leaves are tensors. Other
 * leaves (numbers, strings, null) are kept as static parts of the structure.
 */
import { AnchorError } from "./errors.js";
import { Tensor } from "./tensor.js";

export type PyTree<T = Tensor> =
  T | readonly PyTree<T>[] | { readonly [k: string]: PyTree<T> } | number | string | boolean | null | undefined;

export type TreeDef =
  | { kind: "leaf" }
  | { kind: "static"; value: unknown }
  | { kind: "array"; children: TreeDef[] }
  | { kind: "object"; keys: string[]; children: TreeDef[] };

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  !!v && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype;

/** Leaves in a fixed order (object keys sorted) and the structure to rebuild them. */
export function treeFlatten(tree: unknown): { leaves: Tensor[]; def: TreeDef } {
  const leaves: Tensor[] = [];
  const walk = (t: unknown): TreeDef => {
    if (t instanceof Tensor) {
      leaves.push(t);
      return { kind: "leaf" };
    }
    if (Array.isArray(t)) return { kind: "array", children: t.map(walk) };
    if (isPlainObject(t)) {
      const keys = Object.keys(t).sort();
      return { kind: "object", keys, children: keys.map((k) => walk(t[k])) };
    }
    return { kind: "static", value: t };
  };
  const def = walk(tree);
  return { leaves, def };
}

export function treeUnflatten<T = unknown>(def: TreeDef, leaves: readonly Tensor[]): T {
  let i = 0;
  const build = (d: TreeDef): unknown => {
    switch (d.kind) {
      case "leaf":
        return leaves[i++];
      case "static":
        return d.value;
      case "array":
        return d.children.map(build);
      case "object":
        return Object.fromEntries(d.keys.map((k, j) => [k, build(d.children[j]!)]));
    }
  };
  const out = build(def) as T;
  if (i !== leaves.length) throw new AnchorError(`treeUnflatten: structure has ${i} leaves, got ${leaves.length}`);
  return out;
}

/** Apply `fn` to matching leaves of one or more trees of the same structure. */
export function treeMap<T = unknown>(fn: (...leaves: Tensor[]) => Tensor, tree: unknown, ...rest: unknown[]): T {
  const { leaves, def } = treeFlatten(tree);
  const others = rest.map((r, k) => {
    const f = treeFlatten(r);
    if (f.leaves.length !== leaves.length)
      throw new AnchorError(`treeMap: tree ${k + 1} has ${f.leaves.length} leaves, the first has ${leaves.length}`);
    return f.leaves;
  });
  return treeUnflatten<T>(
    def,
    leaves.map((l, i) => fn(l, ...others.map((o) => o[i]!))),
  );
}

export const treeLeaves = (tree: unknown): Tensor[] => treeFlatten(tree).leaves;

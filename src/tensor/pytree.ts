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

/** Every tensor leaf with its dot-joined key path ("vision.layers.0.qkv.weight"), in treeFlatten order. */
export function treeLeavesWithPaths(tree: unknown): { path: string; leaf: Tensor }[] {
  const out: { path: string; leaf: Tensor }[] = [];
  const walk = (t: unknown, path: string): void => {
    if (t instanceof Tensor) out.push({ path, leaf: t });
    else if (Array.isArray(t)) t.forEach((c, i) => walk(c, path ? `${path}.${i}` : String(i)));
    else if (isPlainObject(t)) for (const k of Object.keys(t).sort()) walk(t[k], path ? `${path}.${k}` : k);
  };
  walk(tree, "");
  return out;
}

/**
 * Check that trees hold their leaves under the same key paths (the first is
 * the reference), so leaf i of one is leaf i of the other. Matching by
 * position alone would pair gradients { x, y } with parameters { a, b }
 * silently; a difference is an error listing what each side alone has.
 */
export function assertSameKeys(where: string, ...trees: readonly (readonly [name: string, tree: unknown])[]): void {
  const [refName, ref] = trees[0]!;
  const refPaths = treeLeavesWithPaths(ref).map((l) => l.path);
  for (const [name, tree] of trees.slice(1))
    assertSamePaths(where, [refName, refPaths], [name, treeLeavesWithPaths(tree).map((l) => l.path)]);
}

/** The same check over two lists of key paths (e.g. a checkpoint file's tensor names against a model's parameters). */
export function assertSamePaths(
  where: string,
  [refName, refPaths]: readonly [string, readonly string[]],
  [name, paths]: readonly [string, readonly string[]],
): void {
  const refSet = new Set(refPaths),
    set = new Set(paths);
  const missing = refPaths.filter((p) => !set.has(p));
  const extra = paths.filter((p) => !refSet.has(p));
  if (missing.length === 0 && extra.length === 0) return;
  const list = (xs: string[]) =>
    xs.length === 0
      ? "none"
      : xs
          .slice(0, 8)
          .map((x) => `"${x}"`)
          .join(", ") + (xs.length > 8 ? `, ... (${xs.length} in all)` : "");
  throw new AnchorError(
    `${where}: ${name} and ${refName} have different keys; only in ${refName}: ${list(missing)}; only in ${name}: ${list(extra)}`,
  );
}

/** Apply `fn` to the leaves under the same key path in one or more trees of the same structure. */
export function treeMap<T = unknown>(fn: (...leaves: Tensor[]) => Tensor, tree: unknown, ...rest: unknown[]): T {
  const { leaves, def } = treeFlatten(tree);
  if (rest.length) assertSameKeys("treeMap", ["tree 0", tree], ...rest.map((r, k) => [`tree ${k + 1}`, r] as const));
  const others = rest.map((r) => treeFlatten(r).leaves);
  return treeUnflatten<T>(
    def,
    leaves.map((l, i) => fn(l, ...others.map((o) => o[i]!))),
  );
}

export const treeLeaves = (tree: unknown): Tensor[] => treeFlatten(tree).leaves;

/**
 * Pytree paths for parameters: "vision.layers.0.attn.qkv.weight". Leaves come
 * in treeFlatten order (object keys sorted), so index i here is leaf i there.
 */
import { Tensor } from "../tensor/tensor.js";

export interface PathLeaf {
  readonly path: string;
  readonly leaf: Tensor;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  !!v && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype;

/** Every tensor leaf of `tree` with its dot-joined path. */
export function leavesWithPaths(tree: unknown): PathLeaf[] {
  const out: PathLeaf[] = [];
  const walk = (t: unknown, path: string): void => {
    if (t instanceof Tensor) out.push({ path, leaf: t });
    else if (Array.isArray(t)) t.forEach((c, i) => walk(c, path ? `${path}.${i}` : String(i)));
    else if (isPlainObject(t)) for (const k of Object.keys(t).sort()) walk(t[k], path ? `${path}.${k}` : k);
  };
  walk(tree, "");
  return out;
}

/** Says which parameters an optimizer updates: true = trainable. */
export type ParamMask = (path: string, leaf: Tensor) => boolean;

/**
 * A mask that freezes every parameter whose path starts with one of
 * `prefixes` (a prefix matches whole path segments: "vision" freezes
 * "vision.x" but not "visionary.x").
 */
export function freeze(...prefixes: string[]): ParamMask {
  return (path) => !prefixes.some((p) => path === p || path.startsWith(p + "."));
}

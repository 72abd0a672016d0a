/**
 * Pytree paths for parameters: "vision.layers.0.attn.qkv.weight". Leaves come
 * in treeFlatten order (object keys sorted), so index i here is leaf i there.
 */
import { AnchorError } from "../tensor/errors.js";
import { treeLeavesWithPaths } from "../tensor/pytree.js";
import type { Tensor } from "../tensor/tensor.js";
import { didYouMean } from "./closest.js";

export interface PathLeaf {
  readonly path: string;
  readonly leaf: Tensor;
}

/** Every tensor leaf of `tree` with its dot-joined path, in treeFlatten order. */
export const leavesWithPaths = (tree: unknown): PathLeaf[] => treeLeavesWithPaths(tree);

/**
 * Says which parameters an optimizer updates: true = trainable. `check`, when
 * present, is called by the optimizer's init() with every parameter path and
 * throws if the mask's patterns do not fit them (a typo that freezes nothing).
 */
export type ParamMask = ((path: string, leaf: Tensor) => boolean) & { readonly check?: (paths: readonly string[]) => void };

const underPrefix = (path: string, prefix: string) => path === prefix || path.startsWith(prefix + ".");

/**
 * A mask that freezes every parameter whose path starts with one of
 * `prefixes` (a prefix matches whole path segments: "vision" freezes
 * "vision.x" but not "visionary.x"). A prefix that matches no parameter is
 * an error at the optimizer's init(), listing the top-level parameter paths.
 */
export function freeze(...prefixes: string[]): ParamMask {
  const mask = (path: string) => !prefixes.some((p) => underPrefix(path, p));
  return Object.assign(mask, {
    check(paths: readonly string[]) {
      for (const p of prefixes) {
        if (paths.some((path) => underPrefix(path, p))) continue;
        const top = [...new Set(paths.map((path) => path.split(".")[0]!))];
        const prefixesOfPaths = new Set(paths.flatMap((path) => path.split(".").map((_, i, parts) => parts.slice(0, i + 1).join("."))));
        throw new AnchorError(
          `freeze("${p}") matches no parameter${didYouMean(p, prefixesOfPaths)}; the top-level parameter paths are: ${top.join(", ")}`,
        );
      }
    },
  });
}

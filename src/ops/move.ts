/**
 * Moving data between backends, always explicitly. Ops never mix backends
 * (an op given tensors on two of them throws, naming both: ir/trace.ts), so
 * every transfer in the library goes through `toBackend`, where it is
 * visible in the code and costs one readback and one upload per tensor.
 */
import { getBackend } from "../backends/registry.js";
import { AnchorError } from "../tensor/errors.js";
import { treeFlatten, treeUnflatten } from "../tensor/pytree.js";
import type { Tensor } from "../tensor/tensor.js";
import { fromStorage } from "./create.js";

/**
 * The same pytree with every tensor leaf on backend `name` (which must have
 * been started with `useBackend`). Leaves already there are returned as
 * they are, not copied; moved leaves are new tensors and the originals are
 * left to their owner (dispose them if they are no longer needed). Async
 * because reading a GPU buffer back is. Tracers cannot move: a transfer is
 * a host round trip, which has no derivative to record.
 */
export async function toBackend<T>(tree: T, name: string): Promise<T> {
  const target = getBackend(name);
  const { leaves, def } = treeFlatten(tree);
  const moved = await Promise.all(
    leaves.map(async (t: Tensor) => {
      if (t._box)
        throw new AnchorError(
          `toBackend: a ${t.dtype} tensor being differentiated cannot move from ${t.device} to ${name}; move the inputs before the transform`,
        );
      if (t._backend === target) return t;
      const c = t.concrete();
      return fromStorage(await c._backend.read(c._buf, c.dtype, c.size), c.shape, c.dtype, name);
    }),
  );
  return treeUnflatten<T>(def, moved);
}

/**
 * The one backend that every tensor leaf of `tree` lives on, or null for a
 * tree without tensors; a tree spread over two backends is an error naming
 * both (with `what` saying whose tree it is), since nothing can compute on it.
 */
export function deviceOf(tree: unknown, what: string): string | null {
  let found: string | null = null;
  for (const t of treeFlatten(tree).leaves) {
    if (found === null) found = t.device;
    else if (t.device !== found)
      throw new AnchorError(`${what} live on two backends, ${found} and ${t.device}; move them to one with ag.toBackend(tree, name)`);
  }
  return found;
}

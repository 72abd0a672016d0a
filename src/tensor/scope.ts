/**
 * Scopes: `scope(fn)` disposes what was created inside it unless `fn`
 * returned it (anywhere in a pytree) or it was `keep`-ed.
 */
import { openScopes, type Owned } from "./memory.js";
import { forEachTensor, type Tensor } from "./tensor.js";

/** Keep tensors made inside the current scope alive past its end. */
export function keep<T>(value: T): T {
  const sc = openScopes[openScopes.length - 1];
  if (sc) forEachTensor(value, (t) => sc.delete(t));
  return value;
}

/**
 * Run `fn`, then dispose every tensor it created that is not part of its
 * result. Results move to the enclosing scope; `keep`-ed tensors leave scope
 * management altogether (no enclosing scope frees them; dispose them yourself).
 * An async `fn` is awaited first; do not interleave two async scopes.
 */
export function scope<T>(fn: () => T): T {
  const mine = new Set<Owned>();
  openScopes.push(mine);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    close(mine, undefined);
    throw e;
  }
  if (result instanceof Promise) {
    return result.then(
      (v) => {
        close(mine, v);
        return v;
      },
      (e) => {
        close(mine, undefined);
        throw e;
      },
    ) as T;
  }
  close(mine, result);
  return result;
}

function close(mine: Set<Owned>, result: unknown): void {
  const i = openScopes.lastIndexOf(mine);
  openScopes.splice(i, 1);
  const survivors = new Set<Tensor>();
  forEachTensor(result, (t) => survivors.add(t));
  const parent = openScopes[i - 1];
  for (const t of mine) {
    if (survivors.has(t as Tensor)) parent?.add(t);
    else t.dispose();
  }
}

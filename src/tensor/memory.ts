/**
 * Live-tensor accounting and scopes. Every tensor that owns a buffer is
 * counted here until it is disposed. `scope(fn)` disposes what was created
 * inside it unless `fn` returned it (anywhere in a pytree) or it was `keep`-ed.
 */
import type { Tensor } from "./tensor.js";

interface DeviceStats {
  tensors: number;
  bytes: number;
}
const stats = new Map<string, DeviceStats>();
const scopes: Set<Tensor>[] = [];

export function onAlloc(t: Tensor, device: string, bytes: number): void {
  const s = stats.get(device) ?? { tensors: 0, bytes: 0 };
  s.tensors++;
  s.bytes += bytes;
  stats.set(device, s);
  scopes[scopes.length - 1]?.add(t);
}

export function onFree(t: Tensor, device: string, bytes: number): void {
  const s = stats.get(device)!;
  s.tensors--;
  s.bytes -= bytes;
  for (const sc of scopes) sc.delete(t);
}

/**
 * Live tensors and their bytes per device. Tensors that share a buffer (on
 * the cpu a reshape's output shares its input's) each count its bytes, so
 * `bytes` is an upper bound on what the buffers hold.
 */
export function memoryStats(): Record<string, { tensors: number; bytes: number }> {
  const out: Record<string, DeviceStats> = {};
  for (const [k, v] of stats) out[k] = { ...v };
  return out;
}

/** Keep tensors made inside the current scope alive past its end. */
export function keep<T>(value: T): T {
  const sc = scopes[scopes.length - 1];
  if (sc) forEachTensor(value, (t) => sc.delete(t));
  return value;
}

let walker: (value: unknown, fn: (t: Tensor) => void) => void = () => {};
/** Set by tensor.ts to avoid an import cycle: visits every tensor in a pytree. */
export function setTensorWalker(w: typeof walker): void {
  walker = w;
}
function forEachTensor(value: unknown, fn: (t: Tensor) => void): void {
  walker(value, fn);
}

/**
 * Run `fn`, then dispose every tensor it created that is not part of its
 * result. Results move to the enclosing scope; `keep`-ed tensors leave scope
 * management altogether (no enclosing scope frees them; dispose them yourself).
 * An async `fn` is awaited first; do not interleave two async scopes.
 */
export function scope<T>(fn: () => T): T {
  const mine = new Set<Tensor>();
  scopes.push(mine);
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

function close(mine: Set<Tensor>, result: unknown): void {
  const i = scopes.lastIndexOf(mine);
  scopes.splice(i, 1);
  const survivors = new Set<Tensor>();
  forEachTensor(result, (t) => survivors.add(t));
  const parent = scopes[i - 1];
  for (const t of mine) {
    if (survivors.has(t)) parent?.add(t);
    else t.dispose();
  }
}

/**
 * Live-buffer accounting. Every tensor that owns a buffer is counted here
 * until it is disposed, and joins the innermost open scope (./scope.ts).
 */

/** Anything that holds a buffer until it is disposed. */
export interface Owned {
  dispose(): void;
}

interface DeviceStats {
  tensors: number;
  bytes: number;
}
const stats = new Map<string, DeviceStats>();

/** Open scopes, innermost last: the owners made while each was innermost. */
export const openScopes: Set<Owned>[] = [];

export function onAlloc(t: Owned, device: string, bytes: number): void {
  const s = stats.get(device) ?? { tensors: 0, bytes: 0 };
  s.tensors++;
  s.bytes += bytes;
  stats.set(device, s);
  openScopes[openScopes.length - 1]?.add(t);
}

export function onFree(t: Owned, device: string, bytes: number): void {
  const s = stats.get(device)!;
  s.tensors--;
  s.bytes -= bytes;
  for (const sc of openScopes) sc.delete(t);
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

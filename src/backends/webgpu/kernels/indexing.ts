/**
 * gather and scatterAdd over the geometry pre × [D] × post (gather reads
 * pre × [Q indices] × post out of it; scatterAdd sums the other way).
 *
 * Out-of-range indices cannot throw inside a kernel: the kernel writes 0,
 * flags the first bad index in the runtime's error buffer, and the next read
 * raises an AnchorError naming the op, the index and the axis size.
 *
 * scatterAdd is deterministic under repeated indices (WGSL has no float
 * atomics, and a compare-exchange loop would sum in a run-dependent order):
 * it groups the update positions by target index, counting sort style
 * (count, scan, fill, sort each group by position), then every output
 * element sums its group in ascending position order. With a few indices
 * (a gradient of picked labels), each output element scans them in order.
 */
import { sizeOf } from "../../../tensor/shape.js";
import type { GpuBuffer, Runtime } from "../runtime.js";
import { INDEX_ERROR_OPS } from "../runtime.js";
import { decl, deviceBytes, entry1d, entryLoop, loopGroups, paramsDecl, storageType } from "../wgsl.js";
import type { GpuKernel, GpuRef } from "./types.js";

const WG = 256;
const SCAN_WG = 256;

/** WGSL: check index `v` (i32) at position `q` against p(k) = D, flagging op `code` when out of range. */
function checkIndex(code: number, v: string, q: string, dParam: string): string {
  return `(${v} >= 0 && u32(${v}) < ${dParam}) || flag(${code}u, ${q}, u32(${v}), ${dParam})`;
}

const FLAG_FN = `fn flag(code: u32, q: u32, v: u32, d: u32) -> bool {
  if (atomicCompareExchangeWeak(&Err[0], 0u, code).exchanged) {
    atomicStore(&Err[1], q); atomicStore(&Err[2], v); atomicStore(&Err[3], d);
  }
  return false;
}`;

const geometry = (shape: readonly number[], axis: number) => ({
  pre: sizeOf(shape.slice(0, axis)),
  D: shape[axis]!,
  post: sizeOf(shape.slice(axis + 1)),
});

export const gather: GpuKernel<"gather"> = (rt, [x, idx], { axis }, out) => {
  const t = storageType(x!.dtype, "gather");
  const { D, post } = geometry(x!.shape, axis);
  const Q = sizeOf(idx!.shape),
    n = sizeOf(out.shape);
  const o = rt.alloc(deviceBytes(out.dtype, n, "gather"), "the output of gather");
  const code = INDEX_ERROR_OPS.indexOf("gather");
  rt.dispatch({
    name: "gather",
    key: `gather:${t}`,
    wgsl: () =>
      [
        decl(0, "X", t, "read"),
        decl(1, "I", "i32", "read"),
        decl(2, "Out", t, "read_write"),
        decl(3, "Err", "atomic<u32>", "read_write"),
        paramsDecl(4, 4),
        FLAG_FN,
        // p: n, D, post, Q
        entryLoop(
          WG,
          "p(0u)",
          `  let j = idx % p(2u);
  let q = (idx / p(2u)) % p(3u);
  let pre = idx / (p(2u) * p(3u));
  let v = I[q];
  if (${checkIndex(code, "v", "q", "p(1u)")}) { Out[idx] = X[(pre * p(1u) + u32(v)) * p(2u) + j]; } else { Out[idx] = ${t}(0); }`,
        ),
      ].join("\n"),
    bindings: [
      { buf: x!.buf.buffer, access: "read" },
      { buf: idx!.buf.buffer, access: "read" },
      { buf: o.buffer, access: "read_write" },
      { buf: rt.errorFlag, access: "read_write" },
    ],
    params: [n, D, post, Q],
    workgroups: loopGroups(n, WG),
  });
  return o;
};

/** Group positions 0..Q-1 by their index: returns offsets [D+1] and order [Q] (ascending within a group). */
function groupByIndex(rt: Runtime, idx: GpuBuffer, Q: number, D: number): { offsets: GpuBuffer; order: GpuBuffer } {
  const counts = rt.alloc(Math.max(D, 1) * 4, "scatterAdd's index counts");
  const offsets = rt.alloc((D + 1) * 4, "scatterAdd's group offsets");
  const order = rt.alloc(Math.max(Q, 1) * 4, "scatterAdd's position order");
  rt.clear(counts.buffer, 0, D * 4);
  const code = INDEX_ERROR_OPS.indexOf("scatterAdd");
  const common = (name: string, body: string, wg: number, limit: string) =>
    [
      decl(0, "I", "i32", "read"),
      decl(1, "Cnt", "atomic<u32>", "read_write"),
      decl(2, "Off", "u32", "read_write"),
      decl(3, "Ord", "u32", "read_write"),
      decl(4, "Err", "atomic<u32>", "read_write"),
      paramsDecl(5, 2),
      FLAG_FN,
      name === "scan" ? `var<workgroup> part: array<u32, ${SCAN_WG}>;` : "",
      name === "scan" ? entry1d(wg, body) : entryLoop(wg, limit, body),
    ].join("\n");
  const bindings = [
    { buf: idx.buffer, access: "read" as const },
    { buf: counts.buffer, access: "read_write" as const },
    { buf: offsets.buffer, access: "read_write" as const },
    { buf: order.buffer, access: "read_write" as const },
    { buf: rt.errorFlag, access: "read_write" as const },
  ];
  const params = [Q, D]; // p(0) = Q, p(1) = D
  const step = (name: string, body: string, workgroups: number, limit = "p(0u)", wg = WG) =>
    rt.dispatch({
      name: `scatterAdd (${name})`,
      key: `scatter:${name}`,
      wgsl: () => common(name, body, wg, limit),
      bindings,
      params,
      workgroups,
    });

  step(
    "count",
    `  let v = I[idx];
  if (${checkIndex(code, "v", "idx", "p(1u)")}) { atomicAdd(&Cnt[u32(v)], 1u); }`,
    loopGroups(Q, WG),
  );

  // exclusive scan of the counts by one workgroup; counts are reset to serve as fill cursors
  step(
    "scan",
    `  let D = p(1u);
  let per = (D + ${SCAN_WG - 1}u) / ${SCAN_WG}u;
  let lo = min(lid * per, D);
  let hi = min(lo + per, D);
  var s = 0u;
  for (var d = lo; d < hi; d++) { s += atomicLoad(&Cnt[d]); }
  part[lid] = s;
  for (var w = 1u; w < ${SCAN_WG}u; w <<= 1u) {
    workgroupBarrier();
    var add = 0u;
    if (lid >= w) { add = part[lid - w]; }
    workgroupBarrier();
    part[lid] += add;
  }
  workgroupBarrier();
  var run = part[lid] - s;
  for (var d = lo; d < hi; d++) { Off[d] = run; run += atomicLoad(&Cnt[d]); atomicStore(&Cnt[d], 0u); }
  if (lid == ${SCAN_WG - 1}u) { Off[D] = part[lid]; }`,
    1,
    "",
    SCAN_WG,
  );

  step(
    "fill",
    `  let v = I[idx];
  if (v >= 0 && u32(v) < p(1u)) { Ord[Off[u32(v)] + atomicAdd(&Cnt[u32(v)], 1u)] = idx; }`,
    loopGroups(Q, WG),
  );

  // insertion sort of each group by position, so sums run in a fixed order
  step(
    "sort",
    `  let lo = Off[idx];
  let hi = Off[idx + 1u];
  for (var i = lo + 1u; i < hi; i++) {
    let key = Ord[i];
    var j = i;
    while (j > lo && Ord[j - 1u] > key) { Ord[j] = Ord[j - 1u]; j--; }
    Ord[j] = key;
  }`,
    loopGroups(D, WG),
    "p(1u)",
  );

  rt.free(counts);
  return { offsets, order };
}

/** Up to this many indices, each output element scans them all instead of grouping them first. */
const FEW_INDICES = 32;

/**
 * scatterAdd for a few indices: every output element sums the updates whose
 * index is its own, scanning the index list in order (the same sums, in the
 * same order, as the grouped form, without its count/scan/fill/sort passes
 * over the whole axis).
 */
function scatterAddFew(
  rt: Runtime,
  upd: GpuRef,
  idx: GpuRef,
  out: { n: number; D: number; post: number; Q: number; bytes: number },
): GpuBuffer {
  const t = storageType(upd.dtype, "scatterAdd");
  const o = rt.alloc(out.bytes, "the output of scatterAdd");
  const code = INDEX_ERROR_OPS.indexOf("scatterAdd");
  rt.dispatch({
    name: "scatterAdd",
    key: `scatter:few:${t}`,
    wgsl: () =>
      [
        decl(0, "U", t, "read"),
        decl(1, "I", "i32", "read"),
        decl(2, "Out", t, "read_write"),
        decl(3, "Err", "atomic<u32>", "read_write"),
        paramsDecl(4, 4),
        FLAG_FN,
        // p: n, D, post, Q; out index = (pre * D + d) * post + j
        entryLoop(
          WG,
          "p(0u)",
          `  let j = idx % p(2u);
  let d = (idx / p(2u)) % p(1u);
  let pre = idx / (p(2u) * p(1u));
  var s = ${t}(0);
  for (var q = 0u; q < p(3u); q++) {
    let v = I[q];
    if ((${checkIndex(code, "v", "q", "p(1u)")}) && u32(v) == d) { s += U[(pre * p(3u) + q) * p(2u) + j]; }
  }
  Out[idx] = s;`,
        ),
      ].join("\n"),
    bindings: [
      { buf: upd.buf.buffer, access: "read" },
      { buf: idx.buf.buffer, access: "read" },
      { buf: o.buffer, access: "read_write" },
      { buf: rt.errorFlag, access: "read_write" },
    ],
    params: [out.n, out.D, out.post, out.Q],
    workgroups: loopGroups(out.n, WG),
  });
  return o;
}

export const scatterAdd: GpuKernel<"scatterAdd"> = (rt, [upd, idx], { axis }, out) => {
  const t = storageType(upd!.dtype, "scatterAdd");
  const { D, post } = geometry(out.shape, axis);
  const Q = sizeOf(idx!.shape),
    n = sizeOf(out.shape);
  if (Q <= FEW_INDICES) return scatterAddFew(rt, upd!, idx!, { n, D, post, Q, bytes: deviceBytes(out.dtype, n, "scatterAdd") });
  const { offsets, order } = groupByIndex(rt, idx!.buf, Q, D);
  const o = rt.alloc(deviceBytes(out.dtype, n, "scatterAdd"), "the output of scatterAdd");
  rt.dispatch({
    name: "scatterAdd",
    key: `scatter:sum:${t}`,
    wgsl: () =>
      [
        decl(0, "U", t, "read"),
        decl(1, "Off", "u32", "read"),
        decl(2, "Ord", "u32", "read"),
        decl(3, "Out", t, "read_write"),
        paramsDecl(4, 4),
        // p: n, D, post, Q; out index = (pre * D + d) * post + j
        entryLoop(
          WG,
          "p(0u)",
          `  let j = idx % p(2u);
  let d = (idx / p(2u)) % p(1u);
  let pre = idx / (p(2u) * p(1u));
  var s = ${t}(0);
  for (var k = Off[d]; k < Off[d + 1u]; k++) { s += U[(pre * p(3u) + Ord[k]) * p(2u) + j]; }
  Out[idx] = s;`,
        ),
      ].join("\n"),
    bindings: [
      { buf: upd!.buf.buffer, access: "read" },
      { buf: offsets.buffer, access: "read" },
      { buf: order.buffer, access: "read" },
      { buf: o.buffer, access: "read_write" },
    ],
    params: [n, D, post, Q],
    workgroups: loopGroups(n, WG),
  });
  rt.free(offsets);
  rt.free(order);
  return o;
};

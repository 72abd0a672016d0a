/**
 * Reductions (sum, max, argmax) as workgroup trees over rows.
 *
 * The reduced axes are first moved to the end (a strided copy, skipped when
 * they already are), so every reduction runs over `rows` contiguous rows of
 * `len` elements. Short rows take one invocation each; longer rows one
 * workgroup each: a two-level tree, 64 strided partials folded in order by
 * the first invocation after a single barrier (each barrier is a context
 * switch on software Vulkan, so a log-depth tree of barriers costs more).
 * Few long rows (a full sum) are split into chunks reduced in a second pass,
 * so the whole device works. Max propagates NaN and argmax picks the first
 * NaN, else the first maximum, as the CPU does.
 */
import { sizeOf, stridesOf } from "../../../tensor/shape.js";
import type { GpuBuffer, Runtime } from "../runtime.js";
import { BITS_FN, decl, deviceBytes, entry1d, groups, paramsDecl, storageType } from "../wgsl.js";
import { copyRegion } from "./layout.js";
import type { ParamsOf } from "../../../prims/index.js";
import type { GpuKernel, GpuRef } from "./types.js";

const TREE = 64; // invocations per row in the workgroup form
// One invocation per segment when segments are short, or when there are
// enough of them to fill the device and they are not long; else a
// workgroup tree per segment (barriers are costly on software Vulkan).
const SHORT = 32;
const MANY = 8192;
const MEDIUM = 1024;
const CHUNK = 4096; // a first pass reduces long rows in chunks of about this length

type Op = "sum" | "max" | "argmax";

const isNan = (v: string) => `((bitcast<u32>(${v}) & 0x7fffffffu) > 0x7f800000u)`;

/** WGSL pieces for one reduction: identity, and folding (v, i) into the accumulator (acc, ai). */
function algebra(op: Op, t: string) {
  const lowest = t === "i32" ? "i32(-2147483647 - 1)" : "f32_bits(0xff800000u)";
  const nan = (v: string) => (t === "f32" ? isNan(v) : "false");
  switch (op) {
    case "sum":
      return { identity: t === "i32" ? "0" : "0.0", fold: "acc = acc + v;" };
    case "max":
      return { identity: lowest, fold: `if (v > acc || ${nan("v")}) { acc = v; }` };
    // better: larger, or the first NaN, or equal (both NaN included) at a lower index
    case "argmax":
      return {
        identity: lowest,
        fold: `if (ai == 0xffffffffu || v > acc || (${nan("v")} && !${nan("acc")}) || ((v == acc || (${nan("v")} && ${nan("acc")})) && i < ai)) { acc = v; ai = i; }`,
      };
  }
}

interface RowsSpec {
  rows: number;
  len: number;
  chunks: number;
  seg: number;
}

/**
 * Reduce each of `chunks` segments (of `seg` elements) of each row of
 * `input` into `out[row * chunks + c]` (argmax: the index within the row).
 */
function reduceRows(rt: Runtime, op: Op, input: GpuBuffer, t: string, outType: string, s: RowsSpec): GpuBuffer {
  const segments = s.rows * s.chunks;
  const out = rt.alloc(segments * 4, `the output of ${op}`);
  const { identity, fold } = algebra(op, t);
  const short = s.seg <= SHORT || (segments >= MANY && s.seg <= MEDIUM);
  const head = `  let row = seg_id / p(2u);
  let c = seg_id % p(2u);
  let start = row * p(1u) + c * p(3u);
  let end = min(start + p(3u), (row + 1u) * p(1u));
  var acc: ${t} = ${identity};
  var ai = 0xffffffffu;`;
  const result = op === "argmax" ? "select(i32(ai - row * p(1u)), 0, ai == 0xffffffffu)" : "acc";
  const body = short
    ? `  let seg_id = idx;
  if (seg_id >= p(0u)) { return; }
${head}
  for (var i = start; i < end; i++) { let v = In[i]; ${fold} }
  Out[seg_id] = ${result};`
    : `  let seg_id = wid.x + wid.y * nwg.x;
  if (seg_id >= p(0u)) { return; }
${head}
  for (var i = start + lid; i < end; i += ${TREE}u) { let v = In[i]; ${fold} }
  sv[lid] = acc;
  si[lid] = ai;
  workgroupBarrier();
  if (lid == 0u) {
    for (var k = 1u; k < ${TREE}u; k++) { let v = sv[k]; let i = si[k]; ${fold} }
    Out[seg_id] = ${result};
  }`;
  const params = [segments, s.len, s.chunks, s.seg];
  rt.dispatch({
    name: op,
    key: `reduce:${op}:${t}:${short ? "short" : "tree"}`,
    wgsl: () =>
      [
        decl(0, "In", t, "read"),
        decl(1, "Out", outType, "read_write"),
        paramsDecl(2, params.length),
        BITS_FN,
        short ? "" : `var<workgroup> sv: array<${t}, ${TREE}>;\nvar<workgroup> si: array<u32, ${TREE}>;`,
        // the short form is a flat index space; the tree form one workgroup per segment
        entry1d(short ? 64 : TREE, body),
      ].join("\n"),
    bindings: [
      { buf: input.buffer, access: "read" },
      { buf: out.buffer, access: "read_write" },
    ],
    params,
    workgroups: short ? groups(segments, 64) : segments,
  });
  return out;
}

/** A contiguous [rows, len] view of x with `axes` last (copying only when needed). */
function rowsOver(
  rt: Runtime,
  op: string,
  x: GpuRef,
  axes: readonly number[],
): { buf: GpuBuffer; rows: number; len: number; temp: boolean } {
  const r = x.shape.length;
  const kept = [...Array(r).keys()].filter((i) => !axes.includes(i));
  const perm = [...kept, ...axes];
  const len = axes.reduce((n, a) => n * x.shape[a]!, 1);
  const rows = sizeOf(kept.map((k) => x.shape[k]!));
  // size-1 axes do not change the element order
  const order = perm.filter((p) => x.shape[p] !== 1);
  if (order.every((p, i) => i === 0 || p > order[i - 1]!)) return { buf: x.buf, rows, len, temp: false };
  const st = stridesOf(x.shape);
  const shape = perm.map((p) => x.shape[p]!);
  const buf = rt.alloc(deviceBytes(x.dtype, sizeOf(x.shape), op), `a transposed copy for ${op}`);
  copyRegion(rt, op, shape, { buf: x.buf, base: 0, strides: perm.map((p) => st[p]!) }, { buf, base: 0, strides: stridesOf(shape) });
  return { buf, rows, len, temp: true };
}

function reduceKernel<N extends "sum" | "max" | "argmax">(op: N, axesOf: (p: ParamsOf<N>) => readonly number[]): GpuKernel<N> {
  return (rt, [x], params) => {
    const t = storageType(x!.dtype, op);
    const outT = op === "argmax" ? "i32" : t;
    const v = rowsOver(rt, op, x!, axesOf(params));
    let result: GpuBuffer;
    if (op !== "argmax" && v.len > 2 * CHUNK && v.rows < 256) {
      const chunks = Math.ceil(v.len / CHUNK);
      const partial = reduceRows(rt, op, v.buf, t, t, { rows: v.rows, len: v.len, chunks, seg: Math.ceil(v.len / chunks) });
      result = reduceRows(rt, op, partial, t, t, { rows: v.rows, len: chunks, chunks: 1, seg: chunks });
      rt.free(partial);
    } else {
      result = reduceRows(rt, op, v.buf, t, outT, { rows: v.rows, len: v.len, chunks: 1, seg: v.len });
    }
    if (v.temp) rt.free(v.buf);
    return result;
  };
}

export const sum = reduceKernel("sum", (p) => p.axes);
export const max = reduceKernel("max", (p) => p.axes);
export const argmax = reduceKernel("argmax", (p) => [p.axis]);

/**
 * The fused row primitives (ops/rows.ts) as WGSL: logsumexp, softmax (and
 * its VJP), logSoftmax, layerNorm and rmsNorm (and their VJP) over the last axis of a
 * contiguous [rows, len] input, each in one dispatch.
 *
 * Two forms. On a hardware GPU, short rows, or many medium ones, take one
 * invocation per row; otherwise a workgroup of 64 takes a row: each
 * invocation reduces a strided share of it, invocation 0 merges the 64
 * partial results after one barrier (one merge, not a log-depth tree of
 * barriers), and after a second barrier all write the row. On a software
 * adapter, where workgroups are CPU threads and a barrier a context switch
 * per invocation, every row takes one invocation (measured on llvmpipe: 2-4×
 * faster than the workgroup form at every shape from 64×1024 to 16×151655).
 *
 * Stability. The exponential family folds each element into a running
 * (max m, Σ e^(x − m)) pair, rescaling the sum when the max grows (the
 * "online softmax"), and merges pairs the same way; the shift is the max, or
 * 0 when nothing is above -inf, so an all -inf row has logsumexp -inf and
 * softmax 0/0 = NaN, as on the cpu. layerNorm works on x − x0 (x0 the row's
 * first element); its invocations each take the mean of their share, then
 * the squares about it, and the shares merge with Chan's pairwise update,
 * so the variance never subtracts E[x]² from E[x²].
 *
 * A few very long rows (logsumexp over a vocabulary) are split into chunks
 * whose logsumexps a second pass combines, so the whole device works.
 */
import { sizeOf } from "../../../tensor/shape.js";
import { isSoftwareAdapter } from "../device.js";
import type { GpuBuffer, Runtime } from "../runtime.js";
import { f32Bits } from "../runtime.js";
import { BITS_FN, decl, entry1d, groups, paramsDecl } from "../wgsl.js";
import type { GpuKernel, GpuRef } from "./types.js";

type RowOp = "logsumexp" | "softmax" | "softmaxGrad" | "logSoftmax" | "layerNorm" | "rmsNorm" | "layerNormGrad" | "rmsNormGrad";

const WG = 64; // invocations per row in the workgroup form
const THREAD_WG = 64; // rows per workgroup in the invocation-per-row form
// on a hardware GPU, one invocation per row when rows are short, or many and not long
const SHORT = 32;
const MANY = 8192;
const MEDIUM = 1024;
// logsumexp over fewer rows than FEW, longer than 2·CHUNK, runs in chunks of about CHUNK
const FEW = 256;
const CHUNK = 4096;

const NEG_INF = "f32_bits(0xff800000u)";
const isNegInf = (v: string) => `(bitcast<u32>(${v}) == 0xff800000u)`;

/** The geometry every form shares: segment `seg_id` is [start, start + n) of row `row` (p: segments, len, chunks, chunk length). */
const SEGMENT = `  let row = seg_id / p(2u);
  let start = row * p(1u) + (seg_id % p(2u)) * p(3u);
  let n = min(start + p(3u), (row + 1u) * p(1u)) - start;`;

/**
 * Folding v into the running max m and the sum s + bs of e^(x − m) (bs the
 * current block's part); -inf adds nothing, NaN poisons the sum.
 */
const FOLD_EXP = `if (v > m) { let r = exp(m - v); s = s * r; bs = bs * r + 1.0; m = v; } else if (!${isNegInf("v")}) { bs = bs + exp(v - m); }`;

/**
 * Sums of an invocation's share run in blocks of this many elements, each
 * block's sum joining the total when it ends: float32 error grows with the
 * block length plus the number of blocks, not with the row's length.
 */
const BLOCK = 64;

/** Code run at the start and the end of each block of a share. */
interface Block {
  readonly open: string;
  readonly flush: string;
}

/** `body` for every element i of the invocation's share of the row, in blocks when given. */
type Share = (body: string, block?: Block) => string;

interface Shape {
  /** The row inputs' binding names (X when absent); the norms' W and B follow them. */
  readonly inputs?: readonly string[];
  /** WGSL of the per-invocation statistics over its share, leaving locals for `merge`. */
  readonly local: (share: Share) => string;
  /** Workgroup form: store the locals to shared memory slot `lid`. */
  readonly publish: string;
  /** Workgroup form, invocation 0: merge the slots into slot 0. */
  readonly merge: string;
  /** The row statistics as `let`s, from the locals (thread form) or slot 0 (workgroup form). */
  readonly finish: (group: boolean) => string;
  /**
   * The output: per element `Out[start + i] = ...` over the share, or once
   * per row (logsumexp); `affine(v)` applies the norms' weight and bias to v.
   */
  readonly write: (share: Share, group: boolean, affine: (v: string) => string) => string;
}

const expStats = {
  local: (share: Share) => `  var m = ${NEG_INF};
  var s = 0.0;
${share(`let v = X[start + i]; ${FOLD_EXP}`, { open: "var bs = 0.0;", flush: "s = s + bs;" })}`,
  publish: "  sa[lid] = m;\n  sb[lid] = s;",
  merge: `    var mm = ${NEG_INF};
    for (var k = 0u; k < ${WG}u; k++) { mm = max(mm, sa[k]); }
    let shift = select(mm, 0.0, ${isNegInf("mm")});
    var total = 0.0;
    for (var k = 0u; k < ${WG}u; k++) { total = total + sb[k] * exp(sa[k] - shift); }
    sa[0] = shift;
    sb[0] = total;`,
  finish: (group: boolean) =>
    group ? "  let shift = sa[0];\n  let total = sb[0];" : `  let shift = select(m, 0.0, ${isNegInf("m")});\n  let total = s;`,
};

/** A blocked sum t over the share, `body` adding to the block's bt. */
const rowSum = (share: Share, body: string) => `  var t = 0.0;\n${share(body, { open: "var bt = 0.0;", flush: "t = t + bt;" })}`;

/** The workgroup form's shared arrays: one per statistic an invocation publishes. */
const SLOTS = ["sa", "sb", "sc", "sd"];

/**
 * Publishing and merging plain per-invocation sums (the locals named in
 * `sums`, at most four), and where each row total is read afterwards.
 */
function slotSums(sums: readonly string[]) {
  const slots = SLOTS.slice(0, sums.length);
  return {
    publish: slots.map((a, k) => `  ${a}[lid] = ${sums[k]};`).join("\n"),
    merge: slots
      .map((a) => `    var t_${a} = 0.0;\n    for (var k = 0u; k < ${WG}u; k++) { t_${a} = t_${a} + ${a}[k]; }\n    ${a}[0] = t_${a};`)
      .join("\n"),
    totals: (group: boolean): string[] => (group ? slots.map((a) => `${a}[0]`) : [...sums]),
  };
}

/** The sum t of rowSum. */
const rowTotal = slotSums(["t"]);

/**
 * normGrad: r·(h − mean(h) − x̂·mean(h·x̂)) (rmsNorm: no centring). One pass
 * of four sums about x0 (the row's first element, as layerNorm; 0 for
 * rmsNorm): Σd, Σd², Σh, Σh·d with d = x − x0; then var = E[d²] − E[d]²,
 * where E[d] is of the order of the row's spread, not of its values.
 */
function normGradShape(center: boolean): Shape {
  const sums = ["s1", "s2", "sh", "shx"],
    shared = slotSums(sums);
  return {
    inputs: ["X", "H"],
    local: (share) => `  let x0 = ${center ? "select(0.0, X[start], n > 0u)" : "0.0"};
${sums.map((v) => `  var ${v} = 0.0;`).join("\n")}
${share("let d = X[start + i] - x0; let hv = H[start + i]; b1 = b1 + d; b2 = b2 + d * d; bh = bh + hv; bhx = bhx + hv * d;", {
  open: "var b1 = 0.0; var b2 = 0.0; var bh = 0.0; var bhx = 0.0;",
  flush: "s1 = s1 + b1; s2 = s2 + b2; sh = sh + bh; shx = shx + bhx;",
})}`,
    publish: shared.publish,
    merge: shared.merge,
    finish: (group) => {
      const [t1, t2, th, thx] = shared.totals(group);
      return `  let nf = f32(n);
  let mean = ${center ? `${t1} / nf` : "0.0"};
  let scale = inverseSqrt(max(${t2} / nf - mean * mean, 0.0) + bitcast<f32>(p(4u)));
  let mh = ${center ? `${th} / nf` : "0.0"};
  let k = (${thx} / nf - mean * mh) * scale * scale;`;
    },
    write: (share) => share("Out[start + i] = scale * (H[start + i] - mh - ((X[start + i] - x0) - mean) * k);"),
  };
}

const SHAPES: Record<RowOp, Shape> = {
  logsumexp: {
    ...expStats,
    write: (_share, group) => `  ${group ? "if (lid == 0u) { " : ""}Out[seg_id] = shift + log(total);${group ? " }" : ""}`,
  },
  softmax: { ...expStats, write: (share) => `  let inv = 1.0 / total;\n${share("Out[start + i] = exp(X[start + i] - shift) * inv;")}` },
  logSoftmax: { ...expStats, write: (share) => `  let lse = shift + log(total);\n${share("Out[start + i] = X[start + i] - lse;")}` },
  layerNorm: {
    // everything about x0, the row's first element: x − x0 is exact near it (Sterbenz), so a row far
    // from 0 (1e4 + noise) loses nothing to the float32 rounding of its mean
    local: (share) => `  let x0 = select(0.0, X[start], n > 0u);
  var cnt = 0.0;
  var sum = 0.0;
${share("cnt = cnt + 1.0; bsum = bsum + (X[start + i] - x0);", { open: "var bsum = 0.0;", flush: "sum = sum + bsum;" })}
  let mean_k = select(0.0, sum / cnt, cnt > 0.0);
  var m2 = 0.0;
${share("let d = (X[start + i] - x0) - mean_k; bm2 = bm2 + d * d;", { open: "var bm2 = 0.0;", flush: "m2 = m2 + bm2;" })}`,
    publish: "  sa[lid] = mean_k;\n  sb[lid] = m2;\n  sc[lid] = cnt;",
    // Chan et al.: merge (count, mean, sum of squared deviations) pairwise
    merge: `    var nn = 0.0;
    var mean = 0.0;
    var mm2 = 0.0;
    for (var k = 0u; k < ${WG}u; k++) {
      let nk = sc[k];
      if (nk > 0.0) {
        let d = sa[k] - mean;
        let total = nn + nk;
        mean = mean + d * (nk / total);
        mm2 = mm2 + sb[k] + d * d * (nn * nk / total);
        nn = total;
      }
    }
    sa[0] = mean;
    sb[0] = mm2;`,
    finish: (group) => `  let mean = ${group ? "sa[0]" : "mean_k"};
  let scale = inverseSqrt(${group ? "sb[0]" : "m2"} / f32(n) + bitcast<f32>(p(4u)));`,
    write: (share, _group, affine) => share(`Out[start + i] = ${affine("((X[start + i] - x0) - mean) * scale")};`),
  },
  rmsNorm: {
    local: (share) => rowSum(share, "let v = X[start + i]; bt = bt + v * v;"),
    publish: rowTotal.publish,
    merge: rowTotal.merge,
    finish: (group) => `  let scale = inverseSqrt(${rowTotal.totals(group)[0]} / f32(n) + bitcast<f32>(p(4u)));`,
    write: (share, _group, affine) => share(`Out[start + i] = ${affine("X[start + i] * scale")};`),
  },
  softmaxGrad: {
    inputs: ["Y", "G"],
    local: (share) => rowSum(share, "bt = bt + Y[start + i] * G[start + i];"),
    publish: rowTotal.publish,
    merge: rowTotal.merge,
    finish: (group) => `  let s = ${rowTotal.totals(group)[0]};`,
    write: (share) => share("Out[start + i] = Y[start + i] * (G[start + i] - s);"),
  },
  layerNormGrad: normGradShape(true),
  rmsNormGrad: normGradShape(false),
};

interface Affine {
  readonly weight: boolean;
  readonly bias: boolean;
}

/** The WGSL source of `op` in one form, with the affine inputs (norms) bound after X. */
function shader(op: RowOp, group: boolean, affine: Affine): string {
  const sh = SHAPES[op];
  const [first, step] = group ? ["lid", `${WG}u`] : ["0u", "1u"];
  const share: Share = (body, block) =>
    block
      ? `  for (var b0 = ${first}; b0 < n; b0 += ${step} * ${BLOCK}u) {
    ${block.open}
    for (var i = b0; i < min(b0 + ${step} * ${BLOCK}u, n); i += ${step}) { ${body} }
    ${block.flush}
  }`
      : `  for (var i = ${first}; i < n; i += ${step}) { ${body} }`;
  const names = [...(sh.inputs ?? ["X"]), ...(affine.weight ? ["W"] : []), ...(affine.bias ? ["B"] : [])];
  const applyAffine = (v: string) => `${affine.weight ? `(${v}) * W[i]` : v}${affine.bias ? " + B[i]" : ""}`;
  const body = [
    group ? "  let seg_id = wid.x + wid.y * nwg.x;" : "  let seg_id = idx;",
    "  if (seg_id >= p(0u)) { return; }",
    SEGMENT,
    sh.local(share),
    ...(group ? [sh.publish, "  workgroupBarrier();", `  if (lid == 0u) {\n${sh.merge}\n  }`, "  workgroupBarrier();"] : []),
    sh.finish(group),
    sh.write(share, group, applyAffine),
  ].join("\n");
  return [
    ...names.map((name, i) => decl(i, name, "f32", "read")),
    decl(names.length, "Out", "f32", "read_write"),
    paramsDecl(names.length + 1, 5),
    BITS_FN,
    group ? SLOTS.map((a) => `var<workgroup> ${a}: array<f32, ${WG}>;`).join("\n") : "",
    entry1d(group ? WG : THREAD_WG, body),
  ].join("\n");
}

interface Job {
  rows: number;
  len: number;
  chunks: number;
  chunk: number;
}

export type RowForm = "group" | "thread";
let forced: RowForm | null = null;
/** Force one form (so tests run both on any adapter); null restores the choice by adapter and shape. */
export function setRowForm(form: RowForm | null): void {
  forced = form;
}

function formFor(rt: Runtime, segments: number, chunk: number): RowForm {
  if (forced) return forced;
  if (isSoftwareAdapter(rt.handle) || chunk <= SHORT || (segments >= MANY && chunk <= MEDIUM)) return "thread";
  return "group";
}

/** Encode one dispatch of `op` over `job`'s segments; returns the output buffer. */
function dispatchRows(
  rt: Runtime,
  op: RowOp,
  inputs: readonly GpuBuffer[],
  job: Job,
  affine: Affine,
  eps: number,
  outElements: number,
): GpuBuffer {
  const segments = job.rows * job.chunks;
  const group = formFor(rt, segments, job.chunk) === "group";
  const out = rt.alloc(Math.max(4, 4 * outElements), `the output of ${op}`);
  rt.dispatch({
    name: op,
    key: `rows:${op}:${group ? "group" : "thread"}:${affine.weight ? "w" : ""}${affine.bias ? "b" : ""}`,
    wgsl: () => shader(op, group, affine),
    bindings: [...inputs.map((b) => ({ buf: b.buffer, access: "read" as const })), { buf: out.buffer, access: "read_write" }],
    params: [segments, job.len, job.chunks, job.chunk, f32Bits(eps)],
    workgroups: group ? segments : groups(segments, THREAD_WG),
  });
  return out;
}

/** The input's rows: [rows, len] over its last axis. */
function rowsOf(x: GpuRef): Job {
  const len = x.shape[x.shape.length - 1]!;
  const rows = sizeOf(x.shape.slice(0, -1));
  return { rows, len, chunks: 1, chunk: len };
}

const plain: Affine = { weight: false, bias: false };

export const logsumexp: GpuKernel<"logsumexp"> = (rt, [x]) => {
  const job = rowsOf(x!);
  if (job.rows >= FEW || job.len <= 2 * CHUNK) return dispatchRows(rt, "logsumexp", [x!.buf], job, plain, 0, job.rows);
  const chunks = Math.ceil(job.len / CHUNK);
  const partial = dispatchRows(
    rt,
    "logsumexp",
    [x!.buf],
    { ...job, chunks, chunk: Math.ceil(job.len / chunks) },
    plain,
    0,
    job.rows * chunks,
  );
  const out = dispatchRows(rt, "logsumexp", [partial], { rows: job.rows, len: chunks, chunks: 1, chunk: chunks }, plain, 0, job.rows);
  rt.free(partial);
  return out;
};

const rowwise =
  (op: "softmax" | "logSoftmax"): GpuKernel<typeof op> =>
  (rt, [x]) =>
    dispatchRows(rt, op, [x!.buf], rowsOf(x!), plain, 0, sizeOf(x!.shape));

export const softmax = rowwise("softmax");
export const softmaxGrad: GpuKernel<"softmaxGrad"> = (rt, [y, g]) =>
  dispatchRows(rt, "softmaxGrad", [y!.buf, g!.buf], rowsOf(y!), plain, 0, sizeOf(y!.shape));
export const logSoftmax = rowwise("logSoftmax");

const norm =
  (op: "layerNorm" | "rmsNorm"): GpuKernel<typeof op> =>
  (rt, [x, ...affine], p) =>
    dispatchRows(rt, op, [x!.buf, ...affine.map((a) => a.buf)], rowsOf(x!), { weight: p.weight, bias: p.bias }, p.eps, sizeOf(x!.shape));

export const layerNorm = norm("layerNorm");
export const rmsNorm = norm("rmsNorm");

export const normGrad: GpuKernel<"normGrad"> = (rt, [x, h], p) =>
  dispatchRows(rt, p.center ? "layerNormGrad" : "rmsNormGrad", [x!.buf, h!.buf], rowsOf(x!), plain, p.eps, sizeOf(x!.shape));

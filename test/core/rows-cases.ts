/**
 * Float32 checks of the fused row primitives against float64, shared by
 * rows.test.ts (in process, on the Wasm kernels) and fixtures/rows-float32.ts
 * (a child process under ANCHORGRAD_WASM=0, on the JS loops).
 *
 * Each op runs on float32 rows and on the same values in float64; every
 * element's error is divided by the float32 tolerance that op's math allows
 * (stated per op below), so a result is "worst ratio": at most 1 passes.
 */
import * as ag from "../../src/index.js";
import { normGrad, softmaxGrad } from "../../src/ops/rows.js";

/** Row lengths around vector widths, workgroup sizes and block lengths. */
export const LENGTHS = [1, 3, 17, 1000, 1023, 8192];

/**
 * normal: N(0, 5²); wide: uniform in ±1e4; offset: 1e4 + N(0, 1) (norms:
 * the mean's rounding would show); masked: N(0, 5²) with every third entry
 * -inf and the first row all -inf (the exponential family).
 */
export type RowData = "normal" | "wide" | "offset" | "masked";

/** Deterministic [rows, cols] float32 values of a kind. */
export function rowData(kind: RowData, rows: number, cols: number, seed: number): Float32Array {
  const n = rows * cols;
  const z = ag.randomNormal([n], { seed, dtype: "float64", device: "cpu" }).dataSync();
  const u = ag.randomUniform([n], { seed: seed + 1, dtype: "float64", device: "cpu" }).dataSync();
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = kind === "wide" ? (u[i]! * 2 - 1) * 1e4 : kind === "offset" ? 1e4 + z[i]! : 5 * z[i]!;
    if (kind === "masked" && (i < cols || i % 3 === 0)) out[i] = -Infinity;
  }
  return out;
}

export interface RowOp {
  readonly name: string;
  readonly data: readonly RowData[];
  /** Turns the float32 rows into the op's float32 input (both precisions then start from the same values). */
  readonly prepare?: (x: ag.Tensor) => ag.Tensor;
  readonly f: (x: ag.Tensor, aux: ag.Tensor) => ag.Tensor;
  /** Allowed |float32 − float64| at an element, from the float64 result, the input and aux. */
  readonly tol: (ref: number, x: number) => number;
}

const ULP = 2 ** -23;

export const ROW_OPS: readonly RowOp[] = [
  // the sum's relative error (float32 terms, float64 or blocked sums) is absolute in the log; the output rounds once
  { name: "logsumexp", data: ["normal", "wide", "masked"], f: (x) => ag.logsumexp(x, -1), tol: (ref) => ULP * Math.abs(ref) + 4 * ULP },
  // x − max is rounded in float32 (relative error |x − max|·2^-24 after exp, up to 88 where e^(x−max) is normal), e^ ~2 ulp
  { name: "softmax", data: ["normal", "wide", "masked"], f: (x) => ag.softmax(x, -1), tol: (ref) => 64 * ULP * Math.abs(ref) + 2 ** -126 },
  // x − logsumexp: the rounding of both, in the output's and the input's scale
  {
    name: "logSoftmax",
    data: ["normal", "wide", "masked"],
    f: (x) => ag.logSoftmax(x, -1),
    tol: (ref, x) => 2 * ULP * (Math.abs(ref) + 2 * Math.abs(x)) + 4 * ULP,
  },
  // normalised values of order 1, scaled by w ~ N(0, 1) and shifted by b ~ N(0, 1)
  {
    name: "layerNorm",
    data: ["normal", "wide", "offset"],
    f: (x, aux) => ag.layerNorm(x, aux, ag.neg(aux), 1e-5),
    tol: (ref) => 16 * ULP * (1 + Math.abs(ref)),
  },
  {
    name: "rmsNorm",
    data: ["normal", "wide", "offset"],
    f: (x, aux) => ag.rmsNorm(x, aux, 1e-6),
    tol: (ref) => 16 * ULP * (1 + Math.abs(ref)),
  },
  // y·(g − Σ y·g) on a (float32) softmax output y and g ~ N(0, 1): Σ y·|g| and |g − Σ y·g| are a few units, times y
  {
    name: "softmaxGrad",
    data: ["normal", "masked"],
    prepare: (x) => ag.softmax(x, -1),
    f: (y, aux) => softmaxGrad(y, ag.broadcastTo(aux, y.shape)),
    tol: (ref, y) => 4 * ULP * Math.abs(ref) + 32 * ULP * Math.abs(y),
  },
  // the norms' input VJP for h ~ N(0, 1): r·(h − mean(h) − x̂·mean(h·x̂)) of order r·|h|, at most a few units
  ...[true, false].map((center): RowOp => ({
    name: `normGrad (${center ? "layerNorm" : "rmsNorm"})`,
    data: ["normal", "wide", "offset"],
    f: (x, aux) => normGrad(x, ag.broadcastTo(aux, x.shape), { eps: 1e-5, center }),
    tol: (ref) => 64 * ULP * (1 + Math.abs(ref)),
  })),
];

/** The worst error/tolerance ratio of `op` on [rows, cols] rows of `kind` (NaN and ±inf must match exactly). */
export function worstRatio(op: RowOp, kind: RowData, rows: number, cols: number): number {
  return ag.scope(() => {
    const raw = ag.tensor(rowData(kind, rows, cols, 7 + cols), { shape: [rows, cols], dtype: "float32" });
    const x32 = op.prepare ? op.prepare(raw) : raw;
    const aux32 = ag.cast(ag.randomNormal([cols], { seed: 3 }), "float32");
    const got = op.f(x32, aux32).dataSync();
    const want = op.f(ag.cast(x32, "float64"), ag.cast(aux32, "float64")).dataSync();
    return compareRows(op, got, want, x32.dataSync());
  });
}

/** The worst error/tolerance ratio of `got` against `want` (NaN and ±inf must match exactly: Infinity otherwise). */
export function compareRows(op: RowOp, got: ArrayLike<number>, want: ArrayLike<number>, xs: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const a = got[i]!,
      b = want[i]!;
    if (!Number.isFinite(b) || !Number.isFinite(a)) {
      if (!Object.is(a, b) && !(Number.isNaN(a) && Number.isNaN(b))) return Infinity;
      continue;
    }
    if (a !== b) worst = Math.max(worst, Math.abs(a - b) / op.tol(b, xs[i % xs.length]!));
  }
  return worst;
}

/** Rows so that a case has at least `minElements` (the Wasm kernels take 16K and up). */
export const rowsFor = (cols: number, minElements: number): number => Math.max(2, Math.ceil(minElements / cols));

/** Every (op, data, length) case: its label and worst ratio. */
export function allRatios(minElements: number): { label: string; ratio: number }[] {
  const out: { label: string; ratio: number }[] = [];
  for (const op of ROW_OPS) {
    for (const kind of op.data) {
      for (const cols of LENGTHS) {
        const rows = rowsFor(cols, minElements);
        out.push({ label: `${op.name} ${kind} [${rows}, ${cols}]`, ratio: worstRatio(op, kind, rows, cols) });
      }
    }
  }
  return out;
}

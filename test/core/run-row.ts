/**
 * Running one op-table case: its gradient check, and its value and VJP for
 * comparison with a reference (the PyTorch oracle, or another backend).
 */
import * as ag from "../../src/index.js";
import { materialize, type OpCase, type OpRow } from "./op-table.js";

/** A seeded cotangent for an output of this shape and dtype. */
export const cotangentFor = (out: ag.Tensor, seed: number): ag.Tensor =>
  ag.randomNormal(out.shape, { seed, dtype: out.dtype, device: out.device });

/**
 * checkGrads on the scalar ⟨row(xs), w⟩ for a fixed random w, over every
 * float input, in float64; order 2 (Hessian-vector products) for smooth rows.
 */
export function gradCheckRow(row: OpRow, c: OpCase, seed = 0): void {
  ag.scope(() => {
    const xs = materialize(c, { dtype: "float64" });
    const w = cotangentFor(row.fn(xs, c.params), seed + 1);
    const projected = (...args: ag.Tensor[]) => ag.sum(ag.mul(row.fn(args, c.params), w));
    ag.checkGrads(projected, xs, { order: row.smooth ? 2 : 1, seed, ...row.check });
  });
}

export interface RowResult {
  value: ag.Tensor;
  /** Cotangent given to the VJP (differentiable rows only). */
  cotangent?: ag.Tensor;
  /** VJP of each float input, in input order. */
  grads?: ag.Tensor[];
}

/** The row's value and, for differentiable rows, the VJP of every float input at a seeded cotangent. */
export function evaluateRow(
  row: OpRow,
  c: OpCase,
  opts: { dtype?: "float64" | "float32"; device?: string; seed?: number } = {},
): RowResult {
  const xs = materialize(c, opts);
  const isFloat = c.inputs.map((s) => s.kind === "float");
  if (!row.differentiable) return { value: row.fn(xs, c.params) };
  const withFloats = (floats: ag.Tensor[]) => {
    let k = 0;
    return row.fn(
      xs.map((x, i) => (isFloat[i] ? floats[k++]! : x)),
      c.params,
    );
  };
  const [value, pullback] = ag.vjp(
    withFloats,
    xs.filter((_, i) => isFloat[i]),
  );
  const cotangent = cotangentFor(value, opts.seed ?? 0);
  return { value, cotangent, grads: pullback(cotangent) };
}

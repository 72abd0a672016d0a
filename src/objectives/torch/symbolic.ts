/**
 * Batch-size polymorphism for the torch exporter.
 *
 * A Graph records concrete shapes, so one trace cannot say which 3 is the
 * batch size and which is a constant 3. The exporter therefore traces the
 * objective at several batch sizes (TRACE_SIZES) and compares the graphs:
 *
 * - a number (a shape entry, a reshape/broadcastTo/slice/pad parameter, a
 *   scalar constant) that is equal in every trace is a literal;
 * - one that changes must be an affine function a·B + c of the batch size
 *   (checked on every trace, so a coincidence cannot pass), and is emitted as
 *   that expression of the runtime `B`; a scalar constant may also be its
 *   reciprocal 1/(a·B + c) (a mean written as a product);
 * - a constant tensor whose shape depends on B must be one of a few index
 *   patterns (arange along an axis, i < j, i == j, ... over a grid), checked
 *   value by value on every trace (AOT's stable sort builds these);
 * - anything else (B², a data-dependent constant, a different graph per size)
 *   is refused with an error that names the value.
 */
import { AnchorError } from "../../tensor/errors.js";

/**
 * The batch sizes an objective is traced at: three points check that an affine
 * fit is not a coincidence, and odd primes make it unlikely that B equals a
 * literal of the objective (equal scalar constants share one Var, which would
 * make the traces differ and refuse the export rather than mislead it).
 */
export const TRACE_SIZES = [13, 17, 19] as const;

/** An integer a·B + c (a ≠ 0) of the runtime batch size B. */
export interface Affine {
  readonly a: number;
  readonly c: number;
}

/** A number as the emitted code sees it: a literal, or an affine function of B. */
export type Sym = number | Affine;

export class ExportError extends AnchorError {
  override name = "ExportError";
}

const isAffine = (x: unknown): x is Affine => !!x && typeof x === "object" && "a" in x && "c" in x && !Array.isArray(x);

/** Fit v = a·B + c through the first two traces and check it on the others; null when it does not hold. */
function fitAffine(values: readonly number[], exact: boolean): Affine | null {
  const [b0, b1] = TRACE_SIZES;
  const a = (values[1]! - values[0]!) / (b1 - b0);
  const c = values[0]! - a * b0;
  const ok = values.every((v, k) => {
    const w = a * TRACE_SIZES[k]! + c;
    return exact ? v === w : Math.abs(v - w) <= 1e-12 * Math.max(1, Math.abs(v));
  });
  if (!ok || a === 0) return null;
  if (exact && (!Number.isInteger(a) || !Number.isInteger(c))) return null;
  return { a: Math.round(a * 1e12) / 1e12, c: Math.round(c * 1e12) / 1e12 };
}

/** One number seen across the traces: a literal, or a + c·B; throws naming `where` otherwise. */
export function unifyInt(values: readonly number[], where: string): Sym {
  if (values.every((v) => v === values[0])) return values[0]!;
  const fit = fitAffine(values, true);
  if (fit) return fit;
  throw new ExportError(
    `exportTorch: ${where} is ${values.join(", ")} at batch sizes ${TRACE_SIZES.join(", ")}: not an affine function of the batch size, so the export cannot be batch-size polymorphic`,
  );
}

/**
 * A parameter record seen across the traces, with each number that varies
 * replaced by its Affine form. Strings, booleans and structure must agree.
 */
export function unifyParams(values: readonly unknown[], where: string): unknown {
  const first = values[0];
  if (typeof first === "number") return unifyInt(values as number[], where);
  if (Array.isArray(first)) {
    if (!values.every((v) => Array.isArray(v) && v.length === first.length))
      throw new ExportError(
        `exportTorch: ${where} has a different rank at each batch size (${values.map((v) => JSON.stringify(v)).join(" vs ")})`,
      );
    return first.map((_, i) =>
      unifyParams(
        values.map((v) => (v as unknown[])[i]),
        `${where}[${i}]`,
      ),
    );
  }
  if (first && typeof first === "object") {
    return Object.fromEntries(
      Object.keys(first).map((k) => [
        k,
        unifyParams(
          values.map((v) => (v as Record<string, unknown>)[k]),
          `${where}.${k}`,
        ),
      ]),
    );
  }
  if (!values.every((v) => v === first))
    throw new ExportError(`exportTorch: ${where} changes with the batch size (${values.map(String).join(" vs ")})`);
  return first;
}

/** Python text of an integer that may depend on B. */
export function pyInt(x: Sym): string {
  if (!isAffine(x)) return String(x);
  const term = x.a === 1 ? "B" : x.a === -1 ? "-B" : `${x.a} * B`;
  return x.c === 0 ? term : `(${term} ${x.c > 0 ? "+" : "-"} ${Math.abs(x.c)})`;
}

/** A parameter that may not depend on B (an axis, a permutation entry). */
export function literal(x: unknown, what: string): number {
  if (typeof x !== "number") throw new ExportError(`exportTorch: ${what} depends on the batch size; only sizes may`);
  return x;
}

/** Python text of a scalar constant seen across traces: a literal, B-affine, or its reciprocal. */
export function unifyScalar(values: readonly number[], where: string, literalText: (v: number) => string): string {
  if (values.every((v) => Object.is(v, values[0]))) return literalText(values[0]!);
  const fit = fitAffine(values, false);
  if (fit) return affineFloat(fit);
  const inv = fitAffine(
    values.map((v) => 1 / v),
    false,
  );
  if (inv) return `(1.0 / ${affineFloat(inv)})`;
  throw new ExportError(
    `exportTorch: ${where} is ${values.join(", ")} at batch sizes ${TRACE_SIZES.join(", ")}, neither constant nor (the reciprocal of) an affine function of the batch size`,
  );
}

const affineFloat = (f: Affine) => `float(${pyInt(f)})`;

/** Index patterns a constant tensor that depends on B may follow; `i` holds the element's index per axis. */
const PATTERNS: readonly { rank: number; js: (i: readonly number[]) => number; py: string }[] = [
  { rank: 1, js: (i) => i[0]!, py: "_i0" },
  ...(
    [
      ["_i0", (i) => i[0]!],
      ["_i1", (i) => i[1]!],
      ["_i0 < _i1", (i) => +(i[0]! < i[1]!)],
      ["_i0 > _i1", (i) => +(i[0]! > i[1]!)],
      ["_i0 <= _i1", (i) => +(i[0]! <= i[1]!)],
      ["_i0 >= _i1", (i) => +(i[0]! >= i[1]!)],
      ["_i0 == _i1", (i) => +(i[0]! === i[1]!)],
      ["_i0 != _i1", (i) => +(i[0]! !== i[1]!)],
    ] satisfies [string, (i: readonly number[]) => number][]
  ).map(([py, js]) => ({ rank: 2, js, py })),
];

function indexOf(flat: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = flat % shape[d]!;
    flat = Math.floor(flat / shape[d]!);
  }
  return idx;
}

/**
 * The Python expression (in the grid names `_i0`, `_i1`) that a B-dependent
 * constant follows in every trace, or an error naming the constant.
 */
export function indexPattern(traces: readonly { shape: readonly number[]; data: ArrayLike<number> }[], where: string): string {
  const rank = traces[0]!.shape.length;
  const found = PATTERNS.find(
    (p) =>
      p.rank === rank &&
      traces.every(({ shape, data }) => {
        for (let k = 0; k < data.length; k++) if (data[k] !== p.js(indexOf(k, shape))) return false;
        return true;
      }),
  );
  if (!found)
    throw new ExportError(
      `exportTorch: ${where} (shapes ${traces.map((t) => `[${t.shape.join(", ")}]`).join(", ")} at batch sizes ${TRACE_SIZES.join(", ")}) depends on the batch size and is not an index pattern (arange, i < j, i == j, ...); build it from the batch's tensors instead`,
    );
  return found.py;
}

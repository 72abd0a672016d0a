/**
 * The pointwise rows: each elementwise primitive's whole per-element
 * definition, as data. `js` is the scalar function the cpu backend loops (or
 * specializes), `wgsl` the expression the webgpu backend and the jit's
 * fused shaders inline. Their VJP rules live with the public ops
 * (src/ops/elementwise.ts); their shape/dtype rules in ./elementwise.ts.
 */
import { erf } from "./erf.js";

export interface UnaryRow {
  readonly name: UnaryName;
  readonly js: (x: number) => number;
  /** WGSL expression in `x` (f32). */
  readonly wgsl: string;
  /** Also defined on int32 (neg, abs, sign). */
  readonly ints?: boolean;
  /** Piecewise constant (sign, floor): no gradient flows through it. */
  readonly flat?: boolean;
}

export interface BinaryRow {
  readonly name: BinaryName;
  readonly js: (a: number, b: number) => number;
  /** WGSL expression in `a` and `b`. */
  readonly wgsl: string;
  /** Comparisons return bool and carry no gradient. */
  readonly compare?: boolean;
  /** Defined on floats only (div, pow). */
  readonly floatOnly?: boolean;
}

type Row<R> = Omit<R, "name">;

const UNARY_ROWS = {
  neg: { js: (x) => -x, wgsl: "-x", ints: true },
  exp: { js: Math.exp, wgsl: "exp(x)" },
  log: { js: Math.log, wgsl: "log(x)" },
  log1p: { js: Math.log1p, wgsl: "select(log(1.0 + x), x - x * x * 0.5, abs(x) < 1e-4)" },
  sqrt: { js: Math.sqrt, wgsl: "sqrt(x)" },
  rsqrt: { js: (x) => 1 / Math.sqrt(x), wgsl: "inverseSqrt(x)" },
  abs: { js: Math.abs, wgsl: "abs(x)", ints: true },
  sign: { js: Math.sign, wgsl: "sign(x)", ints: true, flat: true },
  tanh: { js: Math.tanh, wgsl: "tanh(clamp(x, -15.0, 15.0))" },
  sigmoid: {
    js: (x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x))),
    wgsl: "select(exp(x) / (1.0 + exp(x)), 1.0 / (1.0 + exp(-x)), x >= 0.0)",
  },
  erf: { js: erf, wgsl: "erf_f32(x)" },
  sin: { js: Math.sin, wgsl: "sin(x)" },
  cos: { js: Math.cos, wgsl: "cos(x)" },
  floor: { js: Math.floor, wgsl: "floor(x)", flat: true },
} satisfies Record<string, Row<UnaryRow>>;

const BINARY_ROWS = {
  add: { js: (a, b) => a + b, wgsl: "a + b" },
  sub: { js: (a, b) => a - b, wgsl: "a - b" },
  mul: { js: (a, b) => a * b, wgsl: "a * b" },
  div: { js: (a, b) => a / b, wgsl: "a / b", floatOnly: true },
  pow: { js: Math.pow, wgsl: "pow_signed(a, b)", floatOnly: true },
  maximum: { js: (a, b) => (a !== a || b !== b ? NaN : Math.max(a, b)), wgsl: "max(a, b)" },
  minimum: { js: (a, b) => (a !== a || b !== b ? NaN : Math.min(a, b)), wgsl: "min(a, b)" },
  equal: { js: (a, b) => +(a === b), wgsl: "a == b", compare: true },
  notEqual: { js: (a, b) => +(a !== b), wgsl: "a != b", compare: true },
  greater: { js: (a, b) => +(a > b), wgsl: "a > b", compare: true },
  greaterEqual: { js: (a, b) => +(a >= b), wgsl: "a >= b", compare: true },
  less: { js: (a, b) => +(a < b), wgsl: "a < b", compare: true },
  lessEqual: { js: (a, b) => +(a <= b), wgsl: "a <= b", compare: true },
} satisfies Record<string, Row<BinaryRow>>;

export type UnaryName = keyof typeof UNARY_ROWS;
export type BinaryName = keyof typeof BINARY_ROWS;

const named = <R>(rows: Record<string, Row<R>>) => Object.entries(rows).map(([name, r]) => ({ name, ...r }) as R);

export const UNARY: readonly UnaryRow[] = named<UnaryRow>(UNARY_ROWS);
export const BINARY: readonly BinaryRow[] = named<BinaryRow>(BINARY_ROWS);

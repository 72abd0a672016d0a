/**
 * float32 transcendental kernels of the Wasm elementwise module: exp, log,
 * log1p, tanh, sigmoid and erf (softplus, logSigmoid and GELU are composites
 * of these in ops/nn.ts, so they run here too).
 *
 * Why float64 lanes: every kernel promotes two float32 inputs to float64,
 * evaluates a polynomial whose error is far below float32's half ulp
 * (< 1e-10 relative, or absolute where the result is near 1), and rounds
 * once. The result then equals the JS kernel's (the same function in double,
 * rounded once) except for inputs within ~1e-3 ulp of a rounding boundary,
 * so the float32 tolerances hold with room to spare, and special values
 * (±0, ±Infinity, NaN, subnormals) come out as libm's. Two lanes a vector
 * still beat the JS loop several times over (Math.exp/log are calls; erf is
 * ~16 ns an element there). float64 tensors never come here.
 *
 * Methods:
 * - exp: 2^k · e^r with k = round(x·log2 e), Taylor series in r to r^10.
 * - log: x = 2^k · m with m in [√½, √2), log m = 2·atanh(s), s = (m−1)/(m+1),
 *   odd series to s^15 (|s| < 0.172).
 * - log1p: log(u)·x/(u − 1) with u = 1 + x (Goldberg's trick: exact to
 *   rounding although u is rounded), x itself where u = 1.
 * - tanh: (1 − e)/(1 + e) with e = exp(−2|x|), |x|(1 − x²/3) below 2^−12.
 * - sigmoid: 1/(1 + e) or e/(1 + e) with e = exp(−|x|), by the sign of x.
 * - erf: |x| < 1: Taylor series of erf(x)/x in x² (14 terms); else
 *   1 − e^{−x²}·g(x) with g = erfc·e^{x²} fitted on [1, 4] by a degree-14
 *   Chebyshev series (absolute error 2e-11) when the module is built; past 4
 *   erf rounds to ±1 in float32.
 */
import { erfReference } from "../../../prims/erf.js";
import type { FunctionBuilder, Local, ModuleBuilder } from "./encoder.js";

/** Emits code that reads the input from `x` (float64 lanes) and leaves the result on the stack. */
type Emit = (x: Local) => void;
/** Allocates a kernel's locals once and returns its emitter (run for the vector loop and the tail). */
export type Kernel = (f: FunctionBuilder) => Emit;

const v128 = (f: FunctionBuilder) => f.local("v128");

/** 1.5 · 2^52: adding it rounds a double of magnitude < 2^51 to an integer held in the low mantissa bits. */
const ROUNDER = 1.5 * 2 ** 52;

/**
 * e^x for the f64x2 on the stack. Clamping to [-104, 89] first makes both
 * ends right (0 and Infinity after rounding to float32) and keeps 2^k a
 * normal double; pmin/pmax keep NaN. Uses (and overwrites) x, t and r.
 */
function expF64x2(f: FunctionBuilder, x: Local, t: Local, r: Local): void {
  f.f64x2Const(89).simd("f64x2.pmin").f64x2Const(-104).simd("f64x2.pmax").set(x);
  // t = x·log2(e) + ROUNDER: k = t − ROUNDER is x·log2(e) rounded to an integer, and t's low bits hold k
  f.get(x).f64x2Const(Math.LOG2E).simd("f64x2.mul").f64x2Const(ROUNDER).simd("f64x2.add").set(t);
  f.get(x).get(t).f64x2Const(ROUNDER).simd("f64x2.sub").f64x2Const(Math.LN2).simd("f64x2.mul").simd("f64x2.sub").set(r);
  let fact = 1;
  for (let i = 2; i <= 10; i++) fact *= i;
  f.f64x2Const(1 / fact); // 1/10!
  for (let i = 9; i >= 0; i--) {
    fact /= i + 1;
    f.get(r)
      .simd("f64x2.mul")
      .f64x2Const(1 / fact)
      .simd("f64x2.add");
  }
  // 2^k as float64 bits: (k + 1023) << 52; ROUNDER's own bits shift out
  f.get(t).i64x2Const(1023).simd("i64x2.add").i32(52).simd("i64x2.shl");
  f.simd("f64x2.mul");
}

/** Σ coeffs[i]·z^i by Horner, z in a local. */
function horner(f: FunctionBuilder, z: Local, coeffs: readonly number[]): void {
  f.f64x2Const(coeffs[coeffs.length - 1]!);
  for (let i = coeffs.length - 2; i >= 0; i--) f.get(z).simd("f64x2.mul").f64x2Const(coeffs[i]!).simd("f64x2.add");
}

/** push (mask ? a : b), each pushed by its callback. */
function choose(f: FunctionBuilder, a: () => void, b: () => void, mask: () => void): void {
  a();
  b();
  mask();
  f.simd("v128.bitselect");
}

/** |value| with the sign of x (the value on the stack is non-negative). */
const withSignOf = (f: FunctionBuilder, x: Local) => f.get(x).f64x2Const(-0).simd("v128.and").simd("v128.or");

const expKernel: Kernel = (f) => {
  const [y, t, r] = [v128(f), v128(f), v128(f)];
  return (x) => {
    f.get(x);
    expF64x2(f, y, t, r);
  };
};

/** 2·(s + s³/3 + … + s^15/15) = Σ LOG_SERIES[i]·s^(2i+1). */
const LOG_SERIES = Array.from({ length: 8 }, (_, i) => 2 / (2 * i + 1));

/** log of the f64x2 in `x` onto the stack, libm's special values included. */
function logInto(f: FunctionBuilder): Emit {
  const [k, m, mask, s, z, res] = [v128(f), v128(f), v128(f), v128(f), v128(f), v128(f)];
  return (x) => {
    // exponent: (bits >>> 52) | bits(2^52) is 2^52 + biased exponent as a double (the sign bit is handled below)
    f.get(x)
      .i32(52)
      .simd("i64x2.shr_u")
      .f64x2Const(2 ** 52)
      .simd("v128.or")
      .f64x2Const(2 ** 52 + 1023)
      .simd("f64x2.sub")
      .set(k);
    f.get(x)
      .i64x2Const(2 ** 52 - 1)
      .simd("v128.and")
      .f64x2Const(1)
      .simd("v128.or")
      .set(m); // mantissa in [1, 2)
    f.get(m).f64x2Const(Math.SQRT2).simd("f64x2.gt").set(mask);
    choose(
      f,
      () => f.get(m).f64x2Const(0.5).simd("f64x2.mul"),
      () => f.get(m),
      () => f.get(mask),
    );
    f.set(m);
    f.get(k).get(mask).f64x2Const(1).simd("v128.and").simd("f64x2.add").set(k);
    f.get(m).f64x2Const(1).simd("f64x2.sub").get(m).f64x2Const(1).simd("f64x2.add").simd("f64x2.div").set(s);
    f.get(s).get(s).simd("f64x2.mul").set(z);
    horner(f, z, LOG_SERIES);
    f.get(s).simd("f64x2.mul").get(k).f64x2Const(Math.LN2).simd("f64x2.mul").simd("f64x2.add").set(res);
    // +Infinity and NaN give themselves; ±0 gives −Infinity; negatives give NaN
    f.f64x2Const(NaN).f64x2Const(-Infinity);
    choose(
      f,
      () => f.get(res),
      () => f.get(x),
      () => f.get(x).f64x2Const(0).simd("f64x2.ge").get(x).f64x2Const(Infinity).simd("f64x2.lt").simd("v128.and"),
    );
    f.get(x).f64x2Const(0).simd("f64x2.eq").simd("v128.bitselect");
    f.get(x).f64x2Const(0).simd("f64x2.lt").simd("v128.bitselect");
  };
}

const log1pKernel: Kernel = (f) => {
  const [u, lg] = [v128(f), v128(f)];
  const log = logInto(f);
  return (x) => {
    f.get(x).f64x2Const(1).simd("f64x2.add").set(u);
    log(u);
    f.set(lg);
    choose(
      f,
      () => f.get(x),
      () => f.get(lg).get(x).simd("f64x2.mul").get(u).f64x2Const(1).simd("f64x2.sub").simd("f64x2.div"),
      () => f.get(u).f64x2Const(1).simd("f64x2.eq").get(x).f64x2Const(Infinity).simd("f64x2.eq").simd("v128.or"),
    );
  };
};

/** Below this |x|, tanh(x) = x(1 − x²/3) to 1e-15 relative, and (1 − e)/(1 + e) would cancel. */
const TANH_SMALL = 2 ** -12;

const tanhKernel: Kernel = (f) => {
  const [ax, e, y, t, r] = [v128(f), v128(f), v128(f), v128(f), v128(f)];
  return (x) => {
    f.get(x).simd("f64x2.abs").set(ax);
    f.get(ax).f64x2Const(-2).simd("f64x2.mul");
    expF64x2(f, y, t, r);
    f.set(e);
    choose(
      f,
      () =>
        f
          .get(ax)
          .get(ax)
          .get(ax)
          .simd("f64x2.mul")
          .f64x2Const(-1 / 3)
          .simd("f64x2.mul")
          .f64x2Const(1)
          .simd("f64x2.add")
          .simd("f64x2.mul"),
      () => f.f64x2Const(1).get(e).simd("f64x2.sub").f64x2Const(1).get(e).simd("f64x2.add").simd("f64x2.div"),
      () => f.get(ax).f64x2Const(TANH_SMALL).simd("f64x2.lt"),
    );
    withSignOf(f, x);
  };
};

const sigmoidKernel: Kernel = (f) => {
  const [e, s, y, t, r] = [v128(f), v128(f), v128(f), v128(f), v128(f)];
  return (x) => {
    f.get(x).simd("f64x2.abs").simd("f64x2.neg");
    expF64x2(f, y, t, r);
    f.set(e);
    f.f64x2Const(1).f64x2Const(1).get(e).simd("f64x2.add").simd("f64x2.div").set(s);
    choose(
      f,
      () => f.get(s),
      () => f.get(e).get(s).simd("f64x2.mul"),
      () => f.get(x).f64x2Const(0).simd("f64x2.ge"),
    );
  };
};

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
/** erf(x)/x = Σ ERF_TAYLOR[k]·x^(2k): 14 terms reach 4e-13 at |x| = 1. */
const ERF_TAYLOR = Array.from({ length: 14 }, (_, k) => {
  let factorial = 1;
  for (let q = 2; q <= k; q++) factorial *= q;
  return (TWO_OVER_SQRT_PI * (k % 2 ? -1 : 1)) / (factorial * (2 * k + 1));
});
const ERF_LO = 1,
  ERF_HI = 4,
  ERF_DEGREE = 14;

/** Chebyshev coefficients of g(x) = erfc(x)·e^{x²} on [ERF_LO, ERF_HI] (interpolation at the Chebyshev nodes). */
function erfcScaledSeries(): number[] {
  const n = ERF_DEGREE + 1,
    c = (ERF_LO + ERF_HI) / 2,
    h = (ERF_HI - ERF_LO) / 2;
  const g = (x: number) => (1 - erfReference(x)) * Math.exp(x * x);
  const values = Array.from({ length: n }, (_, j) => g(c + h * Math.cos((Math.PI * (j + 0.5)) / n)));
  const cheb = Array.from(
    { length: n },
    (_, k) => (2 / n) * values.reduce((s, v, j) => s + v * Math.cos((Math.PI * k * (j + 0.5)) / n), 0),
  );
  cheb[0]! /= 2;
  return cheb;
}

const erfKernel: Kernel = (f) => {
  const cheb = erfcScaledSeries();
  const [ax, z, xc, t2, b1, b2, small, y, t, r] = Array.from({ length: 10 }, () => v128(f)) as Local[] as [
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
  ];
  return (x) => {
    f.get(x).simd("f64x2.abs").set(ax);
    f.get(ax).get(ax).simd("f64x2.mul").set(z);
    horner(f, z, ERF_TAYLOR);
    f.get(ax).simd("f64x2.mul").set(small);
    // Clenshaw's recurrence for Σ cheb[k]·T_k(t), t = (xc − 2.5)/1.5, with xc = |x| clamped to [1, 4]
    f.get(ax).f64x2Const(ERF_LO).simd("f64x2.pmax").f64x2Const(ERF_HI).simd("f64x2.pmin").set(xc);
    const mid = (ERF_LO + ERF_HI) / 2,
      half = (ERF_HI - ERF_LO) / 2;
    f.get(xc)
      .f64x2Const(mid)
      .simd("f64x2.sub")
      .f64x2Const(2 / half)
      .simd("f64x2.mul")
      .set(t2);
    f.v128Zero().set(b1).v128Zero().set(b2);
    let [cur, prev] = [b1, b2];
    for (let k = ERF_DEGREE; k >= 1; k--) {
      // prev ← 2t·cur − prev + c_k, then the roles swap
      f.get(t2).get(cur).simd("f64x2.mul").get(prev).simd("f64x2.sub").f64x2Const(cheb[k]!).simd("f64x2.add").set(prev);
      [cur, prev] = [prev, cur];
    }
    // g = t·cur − prev + c_0 = (t2/2)·cur − prev + c_0
    f.get(t2)
      .f64x2Const(0.5)
      .simd("f64x2.mul")
      .get(cur)
      .simd("f64x2.mul")
      .get(prev)
      .simd("f64x2.sub")
      .f64x2Const(cheb[0]!)
      .simd("f64x2.add");
    f.set(b2);
    f.get(xc).get(xc).simd("f64x2.mul").simd("f64x2.neg");
    expF64x2(f, y, t, r);
    f.get(b2).simd("f64x2.mul").set(b1); // erfc(xc)
    choose(
      f,
      () => f.get(small),
      () => f.f64x2Const(1).get(b1).simd("f64x2.sub"),
      () => f.get(ax).f64x2Const(ERF_LO).simd("f64x2.lt"),
    );
    withSignOf(f, x);
  };
};

/** The kernels, by the pointwise row's name (the jit's fused loops, fused-module.ts, emit them too). */
export const TRANSCENDENTALS: Readonly<Record<string, Kernel>> = {
  exp: expKernel,
  log: (f) => logInto(f),
  log1p: log1pKernel,
  tanh: tanhKernel,
  sigmoid: sigmoidKernel,
  erf: erfKernel,
};

export const TRANSCENDENTAL_NAMES: readonly string[] = Object.keys(TRANSCENDENTALS);

/** Add un_<name>(ws, out, x, n) for every transcendental: two elements a vector, then a one-element tail. */
export function addTranscendentals(m: ModuleBuilder): void {
  for (const [name, kernel] of Object.entries(TRANSCENDENTALS)) {
    const f = m.fn(`un_${name}`, ["i32", "i32", "i32", "i32"]);
    const [, out, x, n] = f.params as [Local, Local, Local, Local];
    const j = f.local("i32"),
      pairs = f.local("i32"),
      o = f.local("i32"),
      p = f.local("i32"),
      vx = v128(f);
    const emit = kernel(f);
    f.get(n).i32(-2).and().set(pairs).get(out).set(o).get(x).set(p);
    f.forRange(j, 0, pairs, 2, () => {
      f.get(o).get(p).load64Zero().simd("f64x2.promote_low_f32x4").set(vx);
      emit(vx);
      f.simd("f32x4.demote_f64x2_zero").store64Lane0();
      f.inc(o, 8).inc(p, 8);
    });
    f.forRange(j, pairs, n, 1, () => {
      f.get(o).get(p).f32Load().scalar("f64.promote_f32").simd("f64x2.splat").set(vx);
      emit(vx);
      f.simd("f32x4.demote_f64x2_zero").f32x4ExtractLane(0).f32Store();
    });
  }
}

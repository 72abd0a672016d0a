/**
 * erf in double precision, in two forms:
 *
 * - `erfReference`: a non-alternating Taylor series below |x| = 3 (no
 *   cancellation) and the Laplace continued fraction for erfc above. Exact
 *   to a few ulp, but its loops run 10-60 steps: ~45 ns an element.
 * - `erf`, the one the op uses: a Taylor polynomial below 0.5, and above it
 *   piecewise polynomials of fixed degree, fitted to `erfReference` by
 *   Chebyshev interpolation when this module loads. Past 1 the pieces fit
 *   erfc = 1 − erf, so their rounding is relative to erfc rather than to 1.
 *   ~16 ns an element, within 9 ulp of libm's erf (test/core/erf.test.ts).
 */
const TWO_OVER_SQRT_PI = 1.1283791670955126;

export function erfReference(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax < 3) {
    // erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_n (2x^2)^n x / (1*3*...*(2n+1))
    const x2 = 2 * ax * ax;
    let term = ax,
      sum = ax;
    for (let n = 1; n < 200 && term > sum * 1e-17; n++) {
      term *= x2 / (2 * n + 1);
      sum += term;
    }
    return Math.sign(x) * TWO_OVER_SQRT_PI * Math.exp(-ax * ax) * sum;
  }
  if (ax > 6) return Math.sign(x);
  return Math.sign(x) * (1 - erfcLarge(ax));
}

/** erfc(x) for x >= 3 by Lentz's method on the continued fraction. */
function erfcLarge(x: number): number {
  // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))
  const tiny = 1e-300;
  let f = x,
    c = x,
    d = 0;
  for (let n = 1; n < 200; n++) {
    const a = n / 2;
    d = x + a * d;
    d = Math.abs(d) < tiny ? tiny : d;
    d = 1 / d;
    c = x + a / c;
    c = Math.abs(c) < tiny ? tiny : c;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

// --- the fast form -------------------------------------------------------------

/** Below this, the Taylor polynomial; from here to LAST, the fitted pieces. */
const SMALL = 0.5;
/** From here on the pieces fit erfc. */
const TAIL = 1;
/** erfc(6) = 2e-17: erf is ±1 in double past it. */
const LAST = 6;
const WIDTH = 0.25;
const DEGREE = 10;

/** erf(x)/x = Σ_k TAYLOR[k]·x^(2k): 14 terms reach 1e-17 relative for |x| < 0.5. */
const TAYLOR = Float64Array.from({ length: 14 }, (_, k) => {
  let factorial = 1;
  for (let q = 2; q <= k; q++) factorial *= q;
  return (TWO_OVER_SQRT_PI * (k % 2 ? -1 : 1)) / (factorial * (2 * k + 1));
});

/**
 * Monomial coefficients, in t ∈ [−1, 1], of the degree-DEGREE polynomial
 * through f at the Chebyshev nodes of [center − half, center + half].
 */
function chebyshevFit(f: (x: number) => number, center: number, half: number): Float64Array {
  const n = DEGREE + 1;
  const values = Array.from({ length: n }, (_, j) => f(center + half * Math.cos((Math.PI * (j + 0.5)) / n)));
  const cheb = Array.from(
    { length: n },
    (_, k) => (2 / n) * values.reduce((s, v, j) => s + v * Math.cos((Math.PI * k * (j + 0.5)) / n), 0),
  );
  cheb[0]! /= 2;
  // Σ cheb[k]·T_k(t), with T_k+1 = 2t·T_k − T_k−1 expanded into powers of t
  const out = new Float64Array(n);
  let prev = new Float64Array(n),
    cur = new Float64Array(n);
  prev[0] = 1;
  cur[1] = 1;
  out[0] = cheb[0]!;
  out[1] = cheb[1]!;
  for (let k = 2; k < n; k++) {
    const next = new Float64Array(n);
    for (let q = 0; q < n - 1; q++) next[q + 1] = 2 * cur[q]!;
    for (let q = 0; q < n; q++) next[q] = next[q]! - prev[q]!;
    for (let q = 0; q < n; q++) out[q] = out[q]! + cheb[k]! * next[q]!;
    prev = cur;
    cur = next;
  }
  return out;
}

const PIECES = Math.round((LAST - SMALL) / WIDTH);
const FIRST_TAIL = Math.round((TAIL - SMALL) / WIDTH);
const COEFFS = new Float64Array(PIECES * (DEGREE + 1));
for (let i = 0; i < PIECES; i++) {
  const center = SMALL + (i + 0.5) * WIDTH;
  COEFFS.set(chebyshevFit(i >= FIRST_TAIL ? (x) => 1 - erfReference(x) : erfReference, center, WIDTH / 2), i * (DEGREE + 1));
}

export function erf(x: number): number {
  const ax = Math.abs(x);
  if (!(ax >= SMALL)) {
    if (x !== x) return NaN;
    const z = x * x;
    let p = TAYLOR[13]!;
    for (let k = 12; k >= 0; k--) p = p * z + TAYLOR[k]!;
    return x * p;
  }
  if (ax >= LAST) return x < 0 ? -1 : 1;
  const u = (ax - SMALL) / WIDTH,
    i = u | 0,
    base = i * (DEGREE + 1),
    t = 2 * (u - i) - 1;
  let p = COEFFS[base + DEGREE]!;
  for (let k = DEGREE - 1; k >= 0; k--) p = p * t + COEFFS[base + k]!;
  const y = i >= FIRST_TAIL ? 1 - p : p;
  return x < 0 ? -y : y;
}

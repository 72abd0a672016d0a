/** A sequential stream over the counter-based Philox generator (deterministic per seed). */
import { uniforms } from "../tensor/random.js";

export class Stream {
  private position = 0;
  constructor(readonly seed: number) {}

  /** Uniform in [0, 1). */
  next(): number {
    return uniforms(this.seed, 1, this.position++)[0]!;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** Index drawn with probability proportional to `weights`. */
  weighted(weights: readonly number[]): number {
    const total = weights.reduce((a, b) => a + b, 0);
    let u = this.next() * total;
    for (let i = 0; i < weights.length; i++) {
      u -= weights[i]!;
      if (u < 0) return i;
    }
    return weights.length - 1;
  }
  /** A seeded Fisher–Yates shuffle (returns a new array). */
  shuffle<T>(xs: readonly T[]): T[] {
    const a = xs.slice();
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  }
}

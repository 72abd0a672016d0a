/**
 * What the suite measures: each case is a kernel at one size with its
 * floating-point work (when it has a standard count), and the sizes that
 * the quick run (`npm run bench`) and the full run (`--full`) use.
 */
import type { Plan } from "./harness.js";

export type CaseSpec =
  | { kind: "matmul"; n: number }
  | { kind: "bmm"; b: number; m: number; k: number; n: number }
  | { kind: "softmax"; rows: number; cols: number }
  | { kind: "layerNorm"; rows: number; cols: number }
  | { kind: "attention"; T: number; H: number; D: number }
  | { kind: "conv"; N: number; C: number; HW: number; O: number; P: number }
  | { kind: "sequenceLogps"; B: number; T: number; V: number };

export interface Case {
  readonly kernel: string;
  readonly size: string;
  readonly spec: CaseSpec;
  /** Floating-point operations of one run, when the kernel has a standard count. */
  readonly flops?: number;
}

function describe(spec: CaseSpec): Case {
  switch (spec.kind) {
    case "matmul":
      return { kernel: "matmul", size: `${spec.n}³`, spec, flops: 2 * spec.n ** 3 };
    case "bmm":
      return {
        kernel: "matmul.batched",
        size: `${spec.b}×${spec.m}×${spec.k}×${spec.n}`,
        spec,
        flops: 2 * spec.b * spec.m * spec.k * spec.n,
      };
    case "softmax":
      return { kernel: "softmax", size: `${spec.rows}×${spec.cols}`, spec };
    case "layerNorm":
      return { kernel: "layerNorm", size: `${spec.rows}×${spec.cols}`, spec };
    case "attention":
      // two T×T×D products forward, four backward (causal mask not exploited by any peer)
      return {
        kernel: "attention.fwd+bwd",
        size: `T=${spec.T} ${spec.H}×${spec.D}`,
        spec,
        flops: 6 * 2 * spec.H * spec.T * spec.T * spec.D,
      };
    case "conv": {
      const patches = (spec.HW / spec.P) ** 2;
      return {
        kernel: "conv.patchEmbed",
        size: `${spec.N}×${spec.C}×${spec.HW}² p${spec.P}→${spec.O}`,
        spec,
        flops: 2 * spec.N * patches * spec.O * spec.C * spec.P * spec.P,
      };
    }
    case "sequenceLogps":
      return { kernel: "sequenceLogps.fwd+bwd", size: `${spec.B}×${spec.T}×${spec.V}`, spec };
  }
}

export function kernelCases(full: boolean): Case[] {
  const specs: CaseSpec[] = [
    ...(full ? [256, 512, 1024, 2048] : [256, 512, 1024]).map((n) => ({ kind: "matmul" as const, n })),
    full ? { kind: "bmm", b: 32, m: 256, k: 256, n: 256 } : { kind: "bmm", b: 8, m: 256, k: 256, n: 256 },
    full ? { kind: "softmax", rows: 1024, cols: 32768 } : { kind: "softmax", rows: 256, cols: 8192 },
    full ? { kind: "layerNorm", rows: 4096, cols: 4096 } : { kind: "layerNorm", rows: 1024, cols: 4096 },
    ...(full ? [256, 512, 1024] : [256, 1024]).map((T) => ({ kind: "attention" as const, T, H: 8, D: 64 })),
    full ? { kind: "conv", N: 4, C: 3, HW: 448, O: 1024, P: 14 } : { kind: "conv", N: 1, C: 3, HW: 224, O: 384, P: 14 },
    full ? { kind: "sequenceLogps", B: 2, T: 64, V: 151_655 } : { kind: "sequenceLogps", B: 1, T: 16, V: 151_655 },
  ];
  return specs.map(describe);
}

/** Runs per measurement: fewer for the big cases, and a time budget, so the kernel part of the quick run stays short. */
export function iterationsFor(c: Case, full: boolean): Plan {
  const work = c.flops ?? 1e9;
  const iterations = work > 5e9 ? 3 : work > 1e9 ? 5 : 9;
  return { iterations: full ? iterations * 2 : iterations, warmup: full ? 2 : 1, budgetMs: full ? 20_000 : 6_000 };
}

/** Deterministic test data (a small LCG): every implementation gets the same numbers. */
export function data(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s >>> 8) / 16777216 - 0.5) * 2 * scale;
  }
  return out;
}

export function labels(n: number, V: number, seed: number): Int32Array {
  const out = new Int32Array(n);
  let s = (seed * 2246822519) >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s % V;
  }
  return out;
}

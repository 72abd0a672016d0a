/**
 * Shared fixtures for the objective tests: every objective (with its option
 * variants) as a named case, fast-check arbitraries for batches, and helpers
 * to evaluate losses and gradients in float64.
 */
import fc from "fast-check";
import * as ag from "../../src/index.js";

const O = ag.objectives;
export type Objective = ag.objectives.Objective;
export type PreferenceBatch = ag.objectives.PreferenceBatch;

/** A batch as plain numbers (what fast-check draws and the oracle receives). */
export interface RawBatch {
  policyChosenLogps: number[];
  policyRejectedLogps: number[];
  refChosenLogps: number[];
  refRejectedLogps: number[];
  chosenLengths: number[];
  rejectedLengths: number[];
  policyChosenLogpsNoImage: number[];
  refChosenLogpsNoImage: number[];
}

/** The log-prob fields, in the order they are passed to checkGrads. */
export const LOGP_FIELDS = [
  "policyChosenLogps",
  "policyRejectedLogps",
  "refChosenLogps",
  "refRejectedLogps",
  "policyChosenLogpsNoImage",
  "refChosenLogpsNoImage",
] as const;
export type LogpField = (typeof LOGP_FIELDS)[number];

export interface Case {
  /** Unique label, e.g. "dpo {labelSmoothing: 0.1}". */
  readonly label: string;
  /** The objective's name in the oracle (test/oracle/objectives.py) and its options. */
  readonly name: string;
  readonly options: Record<string, unknown>;
  readonly make: () => Objective;
  /** Loss depends on S and Ŝ only through r = S − Ŝ (shift invariance). */
  readonly ratioOnly: boolean;
  /** Loss of a concatenated batch = size-weighted mean of the parts' losses. */
  readonly decomposable: boolean;
  /**
   * ACPO-based: α is a stop-gradient, so the gradient is that of the loss with
   * α frozen at its value on `raw`, not the derivative of the loss value.
   * This builds that frozen-α loss independently of src/objectives/acpo.ts.
   */
  readonly frozen?: (raw: RawBatch) => (...logps: ag.Tensor[]) => ag.Tensor;
}

const factories = O as unknown as Record<string, (o?: Record<string, unknown>) => Objective>;

function single(name: string, options: Record<string, unknown> = {}, traits: Partial<Case> = {}): Case {
  const reference = !["sft", "simpo", "cpo", "orpo"].includes(name) && options.referenceFree !== true;
  return {
    label: Object.keys(options).length ? `${name} ${JSON.stringify(options)}` : name,
    name,
    options,
    make: () => factories[name]!(options),
    ratioOnly: reference,
    decomposable: true,
    ...(name === "acpo" && { frozen: (raw: RawBatch) => acpoFrozen(raw, options), decomposable: options.target === "pair" }),
    ...traits,
  };
}

/** Every objective with its defaults, plus the option variants worth covering. */
export const CASES: readonly Case[] = [
  single("dpo"),
  single("dpo", { labelSmoothing: 0.2 }),
  single("dpo", { lengthNormalize: true }),
  single("dpo", { referenceFree: true }),
  single("robust", { labelSmoothing: 0.1 }),
  single("hinge"),
  single("hinge", { beta: 0.5 }),
  single("ipo"),
  single("ipo", { lengthNormalize: false, beta: 0.05 }),
  single("exoPair"),
  single("exoPair", { labelSmoothing: 0.3 }),
  single("ncaPair"),
  single("bcoPair"),
  single("bcoPair", { delta: 0.2 }),
  single("sppoHard"),
  single("apoZero"),
  single("apoDown"),
  single("discopop"),
  single("discopop", { tau: 1 }),
  single("dpop"),
  single("dpop", { lambda: 5, lengthNormalize: true }),
  single("sft"),
  single("sft", { lengthNormalize: false }),
  single("simpo"),
  single("simpo", { labelSmoothing: 0.1 }),
  single("cpo"),
  single("cpo", { labelSmoothing: 0.1 }),
  single("orpo"),
  single("orpo", { lambda: 1 }),
  single("mdpo"),
  single("mdpo", { referenceFree: true, lengthNormalize: true }),
  single("acpo"),
  single("acpo", { target: "pair" }),
  single("acpo", { target: "pair", lengthNormalize: true, delta: 0.001 }),
  single("acpo", { clip: [0.2, 0.8], target: "pair" }),
  single("acpo", { symmetric: true }),
  single("acpo", { beta: 0.5, delta: 0.05 }),
  {
    label: "mpo (0.8 dpo + 0.2 bcoPair + 1 sft)",
    name: "mpo",
    options: {},
    make: () => O.mpo(),
    ratioOnly: false,
    decomposable: true,
  },
  {
    label: "acpo + sft anchor (weighted)",
    name: "acpo+sft",
    options: { target: "pair" },
    make: () =>
      O.weighted([
        [O.acpo({ target: "pair" }), 1],
        [O.sft(), 1],
      ]),
    ratioOnly: false,
    decomposable: true,
    frozen: (raw) => {
      const acpoPart = acpoFrozen(raw, { target: "pair" }),
        sftPart = lossOfLogps(O.sft(), raw);
      return (...logps) => ag.add(acpoPart(...logps), sftPart(...logps));
    },
  },
];

export const caseByLabel = (label: string): Case => CASES.find((c) => c.label === label)!;

// --- batches ----------------------------------------------------------------

export const f64 = (xs: readonly number[]): ag.Tensor => ag.tensor(Float64Array.from(xs), { dtype: "float64" });

export function toBatch(raw: RawBatch): PreferenceBatch {
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, f64(v)])) as unknown as PreferenceBatch;
}

export const batchSize = (raw: RawBatch): number => raw.chosenLengths.length;

export interface BatchArbOptions {
  /** Log-probs are drawn in [−maxAbs, 0]. */
  maxAbs?: number;
  minSize?: number;
  maxSize?: number;
  maxLength?: number;
  /** Draw log-probs on a grid of this step (a power of two keeps sums and shifts exact). */
  grid?: number;
}

/** Random batches of realistic log-probs (≤ 0) and positive integer lengths. */
export function rawBatchArb(opts: BatchArbOptions = {}): fc.Arbitrary<RawBatch> {
  const { maxAbs = 30, minSize = 1, maxSize = 6, maxLength = 40, grid } = opts;
  const logp = grid
    ? fc.integer({ min: -Math.floor(maxAbs / grid), max: 0 }).map((k) => k * grid)
    : fc.double({ min: -maxAbs, max: 0, noNaN: true });
  return fc.integer({ min: minSize, max: maxSize }).chain((n) => {
    const logps = fc.array(logp, { minLength: n, maxLength: n });
    const lengths = fc.array(fc.integer({ min: 1, max: maxLength }), { minLength: n, maxLength: n });
    return fc.record({
      policyChosenLogps: logps,
      policyRejectedLogps: logps,
      refChosenLogps: logps,
      refRejectedLogps: logps,
      chosenLengths: lengths,
      rejectedLengths: lengths,
      policyChosenLogpsNoImage: logps,
      refChosenLogpsNoImage: logps,
    });
  });
}

/** The pairs of `raw` at `indices`, in that order. */
export function pickPairs(raw: RawBatch, indices: readonly number[]): RawBatch {
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, indices.map((i) => (v as number[])[i]!)])) as unknown as RawBatch;
}

export function concatBatches(a: RawBatch, b: RawBatch): RawBatch {
  return Object.fromEntries(
    Object.entries(a).map(([k, v]) => [k, [...(v as number[]), ...(b as unknown as Record<string, number[]>)[k]!]]),
  ) as unknown as RawBatch;
}

/** Chosen and rejected exchanged (log-probs, references and lengths). */
export function swapped(raw: RawBatch): RawBatch {
  return {
    ...raw,
    policyChosenLogps: raw.policyRejectedLogps,
    policyRejectedLogps: raw.policyChosenLogps,
    refChosenLogps: raw.refRejectedLogps,
    refRejectedLogps: raw.refChosenLogps,
    chosenLengths: raw.rejectedLengths,
    rejectedLengths: raw.chosenLengths,
  };
}

// --- evaluation ---------------------------------------------------------------

export const lossOf = (objective: Objective, raw: RawBatch): number => ag.scope(() => objective(toBatch(raw)).loss.item());

/** The objective's loss as a function of the six log-prob tensors (lengths fixed). */
export function lossOfLogps(objective: Objective, raw: RawBatch): (...logps: ag.Tensor[]) => ag.Tensor {
  const lengths = { chosenLengths: f64(raw.chosenLengths), rejectedLengths: f64(raw.rejectedLengths) };
  return (...logps) =>
    objective({ ...lengths, ...Object.fromEntries(LOGP_FIELDS.map((f, i) => [f, logps[i]!])) } as unknown as PreferenceBatch).loss;
}

export const logpTensors = (raw: RawBatch): ag.Tensor[] => LOGP_FIELDS.map((f) => f64(raw[f]));

/** Loss and the gradient w.r.t. each log-prob field, as plain numbers. */
export function lossAndGrads(objective: Objective, raw: RawBatch): { loss: number; grads: Record<LogpField, number[]> } {
  return ag.scope(() => {
    const f = lossOfLogps(objective, raw);
    const [loss, grads] = ag.valueAndGrad((xs: ag.Tensor[]) => f(...xs))(logpTensors(raw));
    return {
      loss: loss.item(),
      grads: Object.fromEntries(LOGP_FIELDS.map((name, i) => [name, Array.from(grads[i]!.dataSync())])) as Record<LogpField, number[]>,
    };
  });
}

/** |a − b| ≤ atol + rtol·max(|a|, |b|), elementwise; returns a description of the first failure. */
export function closeTo(a: readonly number[] | number, b: readonly number[] | number, rtol: number, atol = 0): string | null {
  const xs = typeof a === "number" ? [a] : a,
    ys = typeof b === "number" ? [b] : b;
  if (xs.length !== ys.length) return `lengths ${xs.length} vs ${ys.length}`;
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i]!,
      y = ys[i]!;
    if (!(Math.abs(x - y) <= atol + rtol * Math.max(Math.abs(x), Math.abs(y))))
      return `[${i}]: ${x} vs ${y} (|diff| ${Math.abs(x - y).toExponential(3)})`;
  }
  return null;
}

/** fast-check settings: small by default, heavier with ANCHORGRAD_FULL=1. */
export const runs = (n: number): fc.Parameters<unknown> => ({
  numRuns: process.env.ANCHORGRAD_FULL === "1" ? n * 10 : n,
  seed: Number(process.env.FC_SEED ?? 20261126),
});

// --- an independent ACPO ------------------------------------------------------

export interface AcpoSettings {
  beta: number;
  delta: number;
  target: "batch" | "pair";
  clip: [number, number];
  lengthNormalize: boolean;
  referenceFree: boolean;
  symmetric: boolean;
}

export function acpoSettings(options: Record<string, unknown> = {}): AcpoSettings {
  return {
    beta: 0.1,
    delta: 0.01,
    target: "batch",
    clip: [0, 1],
    lengthNormalize: false,
    referenceFree: false,
    symmetric: false,
    ...options,
  } as AcpoSettings;
}

/** Per-pair log-ratios as plain numbers, normalised and referenced as `s` says. */
export function ratios(raw: RawBatch, s: { lengthNormalize: boolean; referenceFree: boolean }): { rc: number[]; rr: number[] } {
  const r = (S: number[], ref: number[], L: number[]) =>
    S.map((v, i) => (s.lengthNormalize ? v / L[i]! - (s.referenceFree ? 0 : ref[i]! / L[i]!) : v - (s.referenceFree ? 0 : ref[i]!)));
  return {
    rc: r(raw.policyChosenLogps, raw.refChosenLogps, raw.chosenLengths),
    rr: r(raw.policyRejectedLogps, raw.refRejectedLogps, raw.rejectedLengths),
  };
}

/** α and τ per pair, in plain JavaScript, from the formula in docs/OBJECTIVES.md. */
export function acpoAlphaReference(raw: RawBatch, options: Record<string, unknown> = {}): { alpha: number[]; target: number[] } {
  const s = acpoSettings(options);
  const { rc, rr } = ratios(raw, s);
  const perPair = raw.chosenLengths.map((l, i) => (l + raw.rejectedLengths[i]!) * s.delta);
  const batchTarget = perPair.reduce((a, b) => a + b, 0) / perPair.length;
  const target = s.target === "batch" ? perPair.map(() => batchTarget) : perPair;
  const alpha = rc.map((r, i) => {
    const Rc = r * s.beta,
      Rr = rr[i]! * s.beta,
      tau = target[i]!;
    if (!(Rc - Rr >= tau && Rr < 0)) return 1;
    return Math.min(Math.max((Rc - tau) / Rr, s.clip[0]), s.clip[1]);
  });
  return { alpha, target };
}

/** ACPO's loss with α a constant: mean ℓ(β(r_c − α r_r)) (or β α (r_c − r_r) when symmetric). */
export function acpoFrozen(raw: RawBatch, options: Record<string, unknown> = {}): (...logps: ag.Tensor[]) => ag.Tensor {
  const s = acpoSettings(options);
  const alpha = f64(acpoAlphaReference(raw, options).alpha);
  const Lc = f64(raw.chosenLengths),
    Lr = f64(raw.rejectedLengths);
  const ratio = (S: ag.Tensor, ref: ag.Tensor, L: ag.Tensor) => {
    const r = s.referenceFree ? S : ag.sub(S, ref);
    return s.lengthNormalize ? ag.div(r, L) : r;
  };
  return (Sc, Sr, refC, refR) => {
    const rc = ratio(Sc!, refC!, Lc),
      rr = ratio(Sr!, refR!, Lr);
    const z = s.symmetric ? ag.mul(ag.mul(ag.sub(rc, rr), alpha), s.beta) : ag.mul(ag.sub(rc, ag.mul(rr, alpha)), s.beta);
    return ag.mean(ag.softplus(ag.neg(z)));
  };
}

/**
 * Batches drawn from a seeded generator instead of fast-check's doubles: no
 * repeated or boundary values, so no pair sits exactly on a kink (r_c = 0 for
 * dpop, A = 0 for orpo's clamp) where finite differences are meaningless.
 */
export function smoothBatchArb(opts: { maxAbs?: number; maxSize?: number; maxLength?: number } = {}): fc.Arbitrary<RawBatch> {
  const { maxAbs = 30, maxSize = 6, maxLength = 40 } = opts;
  return fc.record({ seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }), n: fc.integer({ min: 1, max: maxSize }) }).map(({ seed, n }) =>
    ag.scope(() => {
      const u = (k: number) => Array.from(ag.randomUniform([n], { seed, offset: k * n, dtype: "float64" }).dataSync());
      const logps = (k: number) => u(k).map((v) => -0.05 - v * maxAbs);
      const lengths = (k: number) => u(k).map((v) => 1 + Math.floor(v * maxLength));
      return {
        policyChosenLogps: logps(0),
        policyRejectedLogps: logps(1),
        refChosenLogps: logps(2),
        refRejectedLogps: logps(3),
        chosenLengths: lengths(4),
        rejectedLengths: lengths(5),
        policyChosenLogpsNoImage: logps(6),
        refChosenLogpsNoImage: logps(7),
      };
    }),
  );
}

/**
 * Batches where ACPO is mostly active with 0 < α < 1 (small chosen
 * log-ratios, clearly negative rejected ones): random batches mostly give
 * α ∈ {0, 1}, where a wrong α formula can go unnoticed.
 */
export function acpoActiveBatchArb(opts: { maxSize?: number } = {}): fc.Arbitrary<RawBatch> {
  return smoothBatchArb({ maxAbs: 30, maxSize: opts.maxSize ?? 6, maxLength: 30 }).map((raw) => ({
    ...raw,
    policyChosenLogps: raw.refChosenLogps.map((v, i) => v - 2 - (raw.policyChosenLogps[i]! / 30) * 4),
    policyRejectedLogps: raw.refRejectedLogps.map((v, i) => v - 5 + (raw.policyRejectedLogps[i]! / 30) * 35),
  }));
}

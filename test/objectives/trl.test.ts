/**
 * fromTrl against test/oracle/trl.py, a transcription of TRL's loss code at
 * v0.25.1 and main, on the same float64 batches: loss, the gradient with
 * respect to the policy log-prob sums (and ORPO's prompt sums), and every
 * metric, rtol 1e-9. All cases go to ONE Python process.
 */
import fc from "fast-check";
import { beforeAll, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { describeOracle, runOracle } from "../helpers/torch.js";
import { closeTo, f64 } from "./cases.js";

type Raw = Record<"S_c" | "S_r" | "R_c" | "R_r" | "L_c" | "L_r" | "P_c" | "M_c", number[]>;
type Config = ag.objectives.TrlConfig;
interface OracleStep {
  loss: number | string;
  grads: Record<string, (number | string)[]>;
  metrics: Record<string, number | string>;
}

const RTOL = 1e-9;
const ATOL = 1e-13;
/** main's ORPO casts the log-probs to float32: float32 transcendentals agree to a few ulp, not to 1e-9. */
const F32 = { rtol: 2e-6, atol: 2e-6 };

const DPO_025 = [
  "sigmoid",
  "hinge",
  "ipo",
  "exo_pair",
  "nca_pair",
  "robust",
  "bco_pair",
  "sppo_hard",
  "aot",
  "aot_pair",
  "apo_zero",
  "apo_down",
  "discopop",
  "sft",
];
const DPO_1 = [...DPO_025.filter((l) => l !== "aot_pair"), "aot_unpaired", "sigmoid_norm"];

const CONFIGS: Config[] = [
  ...DPO_025.map((l): Config => ({ trainer: "dpo", version: "0.25", loss_type: l })),
  ...DPO_1.map((l): Config => ({ trainer: "dpo", loss_type: [l], ...(l === "exo_pair" && { label_smoothing: 1e-3 }) })),
  { trainer: "dpo", version: "0.25", loss_type: ["sigmoid", "bco_pair", "sft"], loss_weights: [0.8, 0.2, 1] },
  { trainer: "dpo", loss_type: ["sigmoid", "bco_pair", "sft"], loss_weights: [0.8, 0.2, 1] },
  { trainer: "dpo", version: "0.25", loss_type: ["ipo", "sigmoid", "exo_pair", "robust"], label_smoothing: 0 },
  { trainer: "dpo", version: "0.25", loss_type: "sigmoid", label_smoothing: 0.2, beta: 0.5 },
  { trainer: "dpo", version: "0.25", loss_type: "sigmoid", rpo_alpha: 1 },
  { trainer: "dpo", version: "0.25", loss_type: ["sigmoid", "apo_zero", "robust"], reference_free: true, label_smoothing: 0.1 },
  { trainer: "dpo", version: "0.25", loss_type: ["aot", "aot_pair"], loss_weights: [1, -0.5], label_smoothing: 0.1 },
  { trainer: "dpo", loss_type: ["robust", "exo_pair", "aot"], label_smoothing: 0.3, beta: 0.05 },
  { trainer: "dpo", loss_type: "sigmoid", label_smoothing: 0.25 },
  { trainer: "dpo", loss_type: ["discopop", "hinge"], discopop_tau: 1, loss_weights: [] },
  ...["sigmoid", "hinge", "ipo", "simpo", "alphapo"].flatMap((l): Config[] => [
    { trainer: "cpo", version: "0.25", loss_type: l, ...(l === "alphapo" && { alpha: 0.25 }) },
    { trainer: "cpo", loss_type: [l], label_smoothing: 0.1, cpo_alpha: 0.5, beta: 0.3 },
  ]),
  { trainer: "cpo", loss_type: "sigmoid", alpha: 0.1, cpo_alpha: 0 },
  { trainer: "orpo", version: "0.25" },
  { trainer: "orpo", version: "0.25", beta: 1 },
  { trainer: "orpo" },
];

/** Configurations whose state carries over: run a sequence of batches through them. */
const stateful = (c: Config) => ag.objectives.fromTrl(c).stateful;

const logp = (lo: number, hi: number) => fc.double({ min: -lo, max: -hi, noNaN: true });
function batchArb(kind: "smooth" | "saturated" | "ties" | "nearZero"): fc.Arbitrary<Raw> {
  return fc.integer({ min: 1, max: 6 }).chain((n) => {
    const arr = (a: fc.Arbitrary<number>) => fc.array(a, { minLength: n, maxLength: n });
    const len = arr(fc.integer({ min: 1, max: 40 }));
    const [lo, hi] = kind === "saturated" ? [2e4, 1] : kind === "nearZero" ? [1e-6, 1e-12] : [30, 0.05];
    const l = arr(logp(lo, hi));
    return fc
      .record({ S_c: l, S_r: l, R_c: l, R_r: l, L_c: len, L_r: len, P_c: arr(logp(30, 0)), M_c: arr(fc.integer({ min: 0, max: 9 })) })
      .map((b) => (kind === "ties" ? { ...b, S_r: b.S_c, R_r: b.R_c, L_r: b.L_c } : b));
  });
}

const sample = (kind: Parameters<typeof batchArb>[0], numRuns: number, seed: number) => fc.sample(batchArb(kind), { numRuns, seed });
const BATCHES: Raw[] = [...sample("smooth", 8, 1), ...sample("saturated", 4, 2), ...sample("ties", 3, 3), ...sample("nearZero", 3, 4)];
/** Runs of three batches for the stateful configurations. */
const RUNS: Raw[][] = [0, 1, 2, 3].map((k) => BATCHES.slice(3 * k, 3 * k + 3));
const withoutPrompt = (b: Raw): Partial<Raw> => ({ ...b, P_c: undefined, M_c: undefined });

interface Case {
  config: Config;
  batches: Partial<Raw>[];
}
const CASES: Case[] = CONFIGS.flatMap((config) => {
  const runs = stateful(config) ? RUNS : BATCHES.map((b) => [b]);
  const prompt = config.trainer === "orpo";
  return runs.flatMap((run) => [{ config, batches: run.map(withoutPrompt) }, ...(prompt ? [{ config, batches: run }] : [])]);
});

const num = (x: number | string): number => (typeof x === "number" ? x : x === "nan" ? NaN : x === "inf" ? Infinity : -Infinity);

function ours(config: Config, raws: Partial<Raw>[]): { loss: number; grads: Record<string, number[]>; metrics: Record<string, number> }[] {
  const objective = ag.objectives.fromTrl(config);
  let state = objective.initialState();
  return raws.map((raw) => {
    const step = ag.scope(() => {
      const leaves = (["S_c", "S_r", "P_c"] as const).filter((k) => raw[k] !== undefined);
      const batchOf = (xs: ag.Tensor[]) => {
        const get = (k: (typeof leaves)[number]) => xs[leaves.indexOf(k)];
        return {
          policyChosenLogps: get("S_c")!,
          policyRejectedLogps: get("S_r")!,
          refChosenLogps: f64(raw.R_c!),
          refRejectedLogps: f64(raw.R_r!),
          chosenLengths: f64(raw.L_c!),
          rejectedLengths: f64(raw.L_r!),
          ...(raw.P_c && { chosenPromptLogps: get("P_c")!, chosenPromptLengths: f64(raw.M_c!) }),
        };
      };
      let result: ReturnType<typeof objective> | undefined;
      const [loss, grads] = ag.valueAndGrad((xs: ag.Tensor[]) => {
        result = objective(batchOf(xs), state);
        return result.loss;
      })(leaves.map((k) => f64(raw[k]!)));
      return {
        loss: loss.item(),
        grads: Object.fromEntries(leaves.map((k, i) => [k, Array.from(grads[i]!.dataSync())])),
        metrics: Object.fromEntries(Object.entries(result!.metrics).map(([k, v]) => [k, v.item()])),
        state: result!.state, // returned from the scope, so its running mean survives
      };
    });
    state = step.state;
    return step;
  });
}

const label = (c: Config) => JSON.stringify(c);

/**
 * Where TRL's own arithmetic gives NaN and fromTrl a finite value: discopop's
 * inf·0 at βΔ < −709, and main ORPO's gradient at |A| < 3e-8, where float32
 * exp(A) rounds to 1 and the branch torch.where does not take turns 0·inf
 * into NaN.
 */
const finiteWhereTrlIsNaN = (c: Config): boolean =>
  [c.loss_type ?? []].flat().includes("discopop") || (c.trainer === "orpo" && (c.version ?? "1") === "1");

describeOracle("fromTrl vs TRL's loss code (float64, rtol 1e-9)", () => {
  let theirs: OracleStep[][];
  beforeAll(async () => {
    theirs = (await runOracle<{ cases: OracleStep[][] }>("trl.py", { cases: CASES })).cases;
  }, 120_000);

  for (const config of CONFIGS) {
    it(label(config), () => {
      const tol = config.trainer === "orpo" && (config.version ?? "1") === "1" ? F32 : { rtol: RTOL, atol: ATOL };
      CASES.forEach((c, i) => {
        if (c.config !== config) return;
        const mine = ours(config, c.batches);
        mine.forEach((step, j) => {
          const t = theirs[i]![j]!;
          const where = `${label(config)} batch ${j} of ${JSON.stringify(c.batches)}`;
          const check = (a: number[] | number, b: (number | string)[] | number | string, what: string) => {
            const xs = typeof a === "number" ? [a] : a;
            const ys = (Array.isArray(b) ? b : [b]).map(num);
            // equal values (infinities included) agree; where TRL's arithmetic gives NaN, ours may be
            // finite only for the documented improvements (docs/trl.md)
            const same = (x: number, y: number) =>
              x === y || (Number.isNaN(x) && Number.isNaN(y)) || (Number.isNaN(y) && finiteWhereTrlIsNaN(config));
            const mine = xs.map((x, k) => (same(x, ys[k]!) ? 0 : x)),
              wanted = ys.map((y, k) => (same(xs[k]!, y) ? 0 : y));
            expect(closeTo(mine, wanted, tol.rtol, tol.atol), `${what}: ${where}`).toBeNull();
          };
          check(step.loss, t.loss, "loss");
          for (const k of Object.keys(t.grads)) check(step.grads[k]!, t.grads[k]!, `∂loss/∂${k}`);
          expect(Object.keys(step.metrics).sort(), `metric names: ${where}`).toEqual(Object.keys(t.metrics).sort());
          for (const k of Object.keys(t.metrics)) check(step.metrics[k]!, t.metrics[k]!, `metric ${k}`);
        });
      });
    });
  }
});

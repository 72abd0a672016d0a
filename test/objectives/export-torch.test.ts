/**
 * ag.exportTorch parity: every objective of ./export-cases.ts is exported,
 * and the exported functions run under torch (ONE Python process,
 * test/oracle/export_parity.py) on the same batches as the TypeScript
 * objective: loss, gradient (torch autograd vs ag.valueAndGrad) and every
 * metric agree at 1e-9 in float64 and 1e-5 in float32. Batch sizes differ from
 * the sizes the exporter traces at, so polymorphism is tested too.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { kernelPrimitives } from "../../src/prims/index.js";
import { TORCH } from "../../src/objectives/torch/prims.js";
import { emitBody } from "../../src/objectives/torch/emit.js";
import { describeOracle, runOracle } from "../helpers/torch.js";
import { closeTo, LOGP_FIELDS, rawBatchArb, type RawBatch } from "./cases.js";
import { exportCases } from "./export-cases.js";

type DType = "float64" | "float32";
interface Result {
  loss: number;
  grads: Record<string, number[]>;
  metrics: Record<string, number>;
}
const TOL: Record<DType, { rtol: number; atol: number }> = { float64: { rtol: 1e-9, atol: 1e-12 }, float32: { rtol: 1e-5, atol: 1e-5 } };

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const parse = (x: number | string) => (typeof x === "number" ? x : Number(x.replace("inf", "Infinity")));

/** The TypeScript side: loss, gradient w.r.t. each log-prob field, metrics, in `dtype`. */
function evaluate(objective: ag.objectives.Objective, raw: RawBatch, dtype: DType): Result {
  return ag.scope(() => {
    const t = (xs: number[]) => ag.tensor(xs, { dtype });
    const lengths = { chosenLengths: t(raw.chosenLengths), rejectedLengths: t(raw.rejectedLengths) };
    const batchOf = (logps: ag.Tensor[]) =>
      ({ ...lengths, ...Object.fromEntries(LOGP_FIELDS.map((f, i) => [f, logps[i]])) }) as unknown as ag.objectives.PreferenceBatch;
    const logps = LOGP_FIELDS.map((f) => t(raw[f]));
    const [loss, grads] = ag.valueAndGrad((xs: ag.Tensor[]) => objective(batchOf(xs)).loss)(logps);
    const metrics = objective(batchOf(logps)).metrics;
    return {
      loss: loss.item(),
      grads: Object.fromEntries(LOGP_FIELDS.map((f, i) => [snake(f), Array.from(grads[i]!.dataSync())])),
      metrics: Object.fromEntries(Object.entries(metrics).map(([k, v]) => [k, v.item()])),
    };
  });
}

/** Random batches at sizes the exporter does not trace at, a tied one and (float64 only) a saturated one. */
function batches(): { raw: RawBatch; dtypes: DType[] }[] {
  const random = fc.sample(rawBatchArb({ minSize: 1, maxSize: 9 }), { numRuns: 3, seed: 20261207 });
  const [tied] = fc.sample(rawBatchArb({ minSize: 4, maxSize: 4, grid: 1, maxAbs: 2 }), { numRuns: 1, seed: 7 });
  const [saturated] = fc.sample(rawBatchArb({ minSize: 6, maxSize: 6, maxAbs: 2000 }), { numRuns: 1, seed: 11 });
  return [
    ...random.map((raw) => ({ raw, dtypes: ["float64", "float32"] as DType[] })),
    { raw: { ...tied!, chosenLengths: tied!.rejectedLengths }, dtypes: ["float64", "float32"] },
    { raw: saturated!, dtypes: ["float64"] },
  ];
}

describe("exportTorch without torch", () => {
  it("has a torch expression for every kernel primitive", () => {
    expect(kernelPrimitives().filter((p) => !TORCH[p])).toEqual([]);
  });

  it("refuses an op with no torch mapping, naming it", () => {
    const x = { id: 0, shape: [3], dtype: "float64" as const, producer: null };
    const y = { id: 1, shape: [3], dtype: "float64" as const, producer: "fft" };
    const graph = { inputs: [x], consts: [], eqns: [{ prim: { name: "fft" }, params: {}, inputs: [x], out: y }], outputs: [y] };
    const g = graph as unknown as ag.Graph;
    expect(() => emitBody([g, g, g], [{ expr: "x", name: "x" }])).toThrow(/primitive "fft" has no torch mapping/);
  });

  it("refuses a constant that depends on the batch size in no expressible way", () => {
    const squared: ag.objectives.Objective = (batch) => {
      const B = batch.policyChosenLogps.shape[0]!;
      return { loss: ag.mul(ag.sum(batch.policyChosenLogps), B * B), metrics: {} };
    };
    expect(() => ag.exportTorch(squared, { name: "f" })).toThrow(/neither constant nor .* affine function of the batch size/);
  });

  it("refuses a stateful TRL objective and a name that is not a Python identifier", () => {
    const bco = ag.objectives.fromTrl({ trainer: "dpo", version: "0.25", loss_type: "bco_pair" });
    expect(() => ag.exportTorch(bco as unknown as ag.objectives.Objective, { name: "f" })).toThrow(/carries state between batches/);
    expect(() => ag.exportTorch(ag.objectives.dpo(), { name: "dpo-loss" })).toThrow(/Python identifier/);
  });

  it("emits the batch size as B, not the traced size", () => {
    const py = ag.exportTorch(ag.objectives.aot(), { name: "aot_loss" });
    expect(py).toMatch(/^def aot_loss\(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps=None/m);
    expect(py).toMatch(/reshape\(\(B, 1\)\)/);
    expect(py).not.toMatch(/\(13, 1\)|float\(13\)/);
  });
});

describeOracle("exportTorch: exported objectives under torch", () => {
  const cases = exportCases();
  const data = batches();
  let answers: (
    { error: string } | { loss: number | string; grads: Record<string, (number | string)[]>; metrics: Record<string, number | string> }
  )[];
  const runs: { c: number; b: number; dtype: DType }[] = [];

  beforeAll(async () => {
    const modules = Object.fromEntries(cases.map((c, i) => [`m${i}`, ag.exportTorch(c.make(), { name: `m${i}` })]));
    const wire: unknown[] = [];
    cases.forEach((_, c) =>
      data.forEach(({ raw, dtypes }, b) =>
        dtypes.forEach((dtype) => {
          runs.push({ c, b, dtype });
          wire.push({ module: `m${c}`, dtype, batch: Object.fromEntries(Object.entries(raw).map(([k, v]) => [snake(k), v])) });
        }),
      ),
    );
    answers = (await runOracle<{ runs: typeof answers }>("export_parity.py", { modules, runs: wire })).runs;
  }, 120_000);

  cases.forEach((testCase, c) => {
    it(`${testCase.label}: loss, gradient and metrics match in float64 and float32`, () => {
      const failures: string[] = [];
      runs.forEach((run, k) => {
        if (run.c !== c) return;
        const got = answers[k]!;
        const where = `batch ${run.b} (${data[run.b]!.raw.chosenLengths.length} pairs) ${run.dtype}`;
        if ("error" in got) return void failures.push(`${where}: torch raised ${got.error}`);
        const want = evaluate(testCase.make(), data[run.b]!.raw, run.dtype);
        const { rtol, atol } = TOL[run.dtype];
        // the same non-finite value on both sides agrees (fromTrl keeps TRL's NaN and inf on purpose)
        const finite = (xs: number[], ys: number[]) => xs.map((x, i) => (Object.is(x, ys[i]) && !Number.isFinite(x) ? 0 : x));
        const check = (what: string, a: number | number[], b: number | number[]) => {
          const [xs, ys] = [[a].flat(), [b].flat()];
          const bad = closeTo(finite(xs, ys), finite(ys, xs), rtol, atol);
          if (bad) failures.push(`${where} ${what}: ${bad}`);
        };
        check("loss", parse(got.loss), want.loss);
        for (const [f, g] of Object.entries(want.grads)) check(`d loss / d ${f}`, (got.grads[f] ?? []).map(parse), g);
        expect(Object.keys(got.metrics).sort(), where).toEqual(Object.keys(want.metrics).sort());
        for (const [m, v] of Object.entries(want.metrics)) check(`metric ${m}`, parse(got.metrics[m]!), v);
      });
      expect(failures, failures.slice(0, 8).join("\n")).toEqual([]);
    });
  });
});

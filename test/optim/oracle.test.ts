/** AdamW and SGD against torch.optim in float64, several steps, one python process. */
import { beforeAll, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { adamw, sgd, warmupCosine, type Optimizer } from "../../src/optim/index.js";
import { describeOracle, fromWire, runOracle, toWire, type Wire } from "../helpers/torch.js";

interface Case {
  kind: "adamw" | "sgd";
  hparams: Record<string, unknown>;
  params: Wire[];
  grads: Wire[][];
  lrs: number[];
  opt: Optimizer;
}

const STEPS = 5;
const shapes = [[3, 4], [5], [2, 2, 2]];
const rand = (shape: number[], seed: number) => ag.randomNormal(shape, { seed, dtype: "float64" });

function makeCase(kind: "adamw" | "sgd", seed: number, opt: Optimizer): Case {
  const params = shapes.map((s, i) => toWire(rand(s, seed * 100 + i)));
  // gradients of very different scales per step, so bias correction and eps matter
  const grads = Array.from({ length: STEPS }, (_, t) =>
    shapes.map((s, i) => toWire(ag.mul(rand(s, seed * 1000 + t * 10 + i), 10 ** ((t % 3) - 1)))),
  );
  const lrs = Array.from({ length: STEPS }, (_, t) => opt.learningRate(t));
  return { kind, hparams: opt.hparams, params, grads, lrs, opt };
}

const cases: Case[] = [
  makeCase("adamw", 1, adamw({ lr: 1e-2 })),
  makeCase("adamw", 2, adamw({ lr: 3e-3, beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0.05 })),
  makeCase("adamw", 3, adamw({ lr: warmupCosine({ peak: 5e-2, warmupSteps: 2, totalSteps: STEPS }), weightDecay: 0.1 })),
  makeCase("sgd", 4, sgd({ lr: 0.1 })),
  makeCase("sgd", 5, sgd({ lr: 0.05, momentum: 0.9, weightDecay: 0.01 })),
  makeCase("sgd", 6, sgd({ lr: 0.05, momentum: 0.9, nesterov: true })),
  makeCase("sgd", 7, sgd({ lr: 0.05, momentum: 0.5, dampening: 0.3 })),
];

describeOracle("optimizers vs torch.optim (float64)", () => {
  let torchOut: Wire[][][];
  beforeAll(async () => {
    torchOut = (await runOracle<{ results: Wire[][][] }>("optim.py", { cases: cases.map(({ opt: _o, ...c }) => c) })).results;
  });

  cases.forEach((c, k) => {
    it(`${c.kind} case ${k} (${JSON.stringify(c.hparams)}) matches for ${STEPS} steps`, () => {
      let params = c.params.map((w) => fromWire(w));
      let state = c.opt.init(params);
      for (let t = 0; t < STEPS; t++) {
        ({ params, state } = c.opt.update(
          c.grads[t]!.map((w) => fromWire(w)),
          state,
          params,
        ));
        params.forEach((p, i) => {
          const want = torchOut[k]![t]![i]!.data,
            got = Array.from(p.dataSync());
          got.forEach((v, j) => expect(Math.abs(v - want[j]!)).toBeLessThanOrEqual(1e-12 * (1 + Math.abs(want[j]!))));
        });
      }
    });
  });
});

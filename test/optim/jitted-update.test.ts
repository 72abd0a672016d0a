/** The optimizers' update is one jitted program: the same numbers as op-by-op, one fused kernel per leaf. */
import { describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { cpuBackend } from "../../src/backends/cpu/index.js";

const params = () => ({
  w: ag.randomNormal([16, 8], { seed: 1 }),
  b: ag.randomNormal([8], { seed: 2 }),
  frozen: { k: ag.randomNormal([4], { seed: 3 }) },
});
const grads = (seed: number) => ({
  w: ag.randomNormal([16, 8], { seed }),
  b: ag.randomNormal([8], { seed: seed + 1 }),
  frozen: { k: ag.randomNormal([4], { seed: seed + 2 }) },
});

function run(make: (jit: boolean) => ag.optim.Optimizer, jit: boolean, steps = 5) {
  const opt = make(jit);
  let p: ReturnType<typeof params> = params();
  let state = opt.init(p);
  for (let s = 0; s < steps; s++) ({ params: p, state } = opt.update(grads(10 * s), state, p));
  return p;
}

describe("the jitted optimizer update", () => {
  const makers: [string, (jit: boolean) => ag.optim.Optimizer][] = [
    [
      "adamw",
      (jit) =>
        ag.optim.adamw({
          lr: ag.optim.warmupCosine({ peak: 1e-2, warmupSteps: 2, totalSteps: 10 }),
          weightDecay: 0.1,
          mask: ag.optim.freeze("frozen"),
          jit,
        }),
    ],
    ["sgd", (jit) => ag.optim.sgd({ lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01, jit })],
  ];
  for (const [name, make] of makers) {
    it(`${name}: bit-identical to the op-by-op update over 5 steps, schedule included`, () => {
      const a = run(make, true),
        b = run(make, false);
      for (const k of ["w", "b"] as const) expect(Array.from(a[k].dataSync())).toEqual(Array.from(b[k].dataSync()));
      expect(Array.from(a.frozen.k.dataSync())).toEqual(Array.from(b.frozen.k.dataSync()));
    });
  }

  it("runs each trainable leaf's AdamW chain as one fused kernel, with flat memory", () => {
    const opt = ag.optim.adamw({ lr: 1e-3 });
    let p = { w: ag.randomNormal([16, 8], { seed: 1 }), b: ag.randomNormal([8], { seed: 2 }) };
    let state = opt.init(p);
    const g = { w: ag.ones([16, 8]), b: ag.ones([8]) };
    const step = () => {
      const next = opt.update(g, state, p);
      for (const t of [...Object.values(p), ...state.slots.m!, ...state.slots.v!]) t!.dispose();
      ({ params: p, state } = next);
    };
    step();
    step();
    const before = ag.memoryStats().cpu!.tensors;
    const fused: number[] = [];
    const kernels: string[] = [];
    const realRun = cpuBackend.run.bind(cpuBackend),
      realFused = cpuBackend.runPointwise!.bind(cpuBackend);
    cpuBackend.run = ((prim, ...rest) => (kernels.push(prim), realRun(prim, ...rest))) as typeof cpuBackend.run;
    cpuBackend.runPointwise = (prog, ins) => (fused.push(prog.outputs.length), realFused(prog, ins));
    try {
      step();
    } finally {
      cpuBackend.run = realRun;
      cpuBackend.runPointwise = realFused;
    }
    expect(kernels).toEqual([]);
    expect(fused).toEqual([3, 3]); // per leaf: the new parameter, m and v
    for (let i = 0; i < 10; i++) step();
    expect(ag.memoryStats().cpu!.tensors).toBe(before);
  });
});

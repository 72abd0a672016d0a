/**
 * Whole-training checks on webgpu: a tiny MLP trained 20 steps with SGD
 * gives the cpu's losses within 1e-4 relative, and 1000 forward+backward
 * steps inside `scope` keep live GPU bytes (and the buffer pool) flat.
 */
import { expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { describeWebGPU, gpu } from "./setup.js";

interface Params {
  w1: ag.Tensor;
  b1: ag.Tensor;
  w2: ag.Tensor;
  b2: ag.Tensor;
}

const IN = 6,
  HIDDEN = 17,
  CLASSES = 5,
  BATCH = 12;

function init(device: string): Params {
  return {
    w1: ag.randomNormal([IN, HIDDEN], { seed: 1, std: 0.5, device }),
    b1: ag.zeros([HIDDEN], { device }),
    w2: ag.randomNormal([HIDDEN, CLASSES], { seed: 2, std: 0.5, device }),
    b2: ag.zeros([CLASSES], { device }),
  };
}

/** Mean softmax cross-entropy of a GELU MLP; labels picked with gather (scatterAdd in the backward pass). */
function loss(p: Params, x: ag.Tensor, labels: ag.Tensor): ag.Tensor {
  const h = ag.gelu(ag.add(ag.matmul(x, p.w1), p.b1));
  const logp = ag.logSoftmax(ag.add(ag.matmul(h, p.w2), p.b2));
  const picked = ag.gather(
    ag.reshape(logp, [BATCH * CLASSES]),
    ag.add(labels, ag.mul(ag.arange(BATCH, { device: labels.device }), CLASSES)),
    0,
  );
  return ag.neg(ag.mean(picked));
}

const sgd = (p: Params, g: Params, lr: number): Params => ({
  w1: ag.sub(p.w1, ag.mul(g.w1, lr)),
  b1: ag.sub(p.b1, ag.mul(g.b1, lr)),
  w2: ag.sub(p.w2, ag.mul(g.w2, lr)),
  b2: ag.sub(p.b2, ag.mul(g.b2, lr)),
});

function data(device: string): { x: ag.Tensor; labels: ag.Tensor } {
  const x = ag.randomNormal([BATCH, IN], { seed: 3, device });
  const labels = ag.tensor(
    Array.from({ length: BATCH }, (_, i) => (i * 7) % CLASSES),
    { dtype: "int32", device },
  );
  return { x, labels };
}

async function train(device: string, steps: number): Promise<number[]> {
  let p = init(device);
  const { x, labels } = data(device);
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const [value, next] = ag.scope(() => {
      const [l, g] = ag.valueAndGrad((q: Params) => loss(q, x, labels))(p);
      return [l, sgd(p, g, 0.5)] as const;
    });
    losses.push((await value.data())[0]!);
    for (const t of [value, ...Object.values(p)]) t.dispose();
    p = next;
  }
  return losses;
}

describeWebGPU("webgpu training", () => {
  it("a tiny MLP trained 20 steps gives the cpu's losses within 1e-4 relative", async () => {
    const cpu = await train("cpu", 20);
    const gpuLosses = await train("webgpu", 20);
    expect(cpu[19]!).toBeLessThan(cpu[0]! * 0.8); // it does learn
    gpuLosses.forEach((l, i) =>
      expect(Math.abs(l - cpu[i]!) / Math.abs(cpu[i]!), `step ${i}: webgpu ${l}, cpu ${cpu[i]}`).toBeLessThan(1e-4),
    );
  });

  it("1000 forward+backward steps in scope keep live GPU bytes and the pool flat", async () => {
    const p = init("webgpu");
    const { x, labels } = data("webgpu");
    const step = () => ag.scope(() => ag.valueAndGrad((q: Params) => loss(q, x, labels))(p)[0]);
    // live tensors and bytes (the gpu sub-record also holds running totals: dispatches, submits, ...)
    const live = () => {
      const { tensors, bytes } = ag.memoryStats().webgpu!;
      return { tensors, bytes };
    };
    // warm up: the pipeline cache fills, and the pool reaches the high-water
    // mark of a whole batch cycle (uploads reuse only buffers freed before a submit)
    for (let s = 0; s < 50; s++) step().dispose();
    await ag.scope(async () => step().data());
    const start = { ...live() },
      pool = gpu.runtime.stats.bufferBytes;
    for (let s = 1; s <= 1000; s++) {
      const l = step();
      if (s % 250 === 0) {
        expect(Number.isFinite((await l.data())[0]!)).toBe(true);
        expect(live().tensors, `live tensors after step ${s}`).toBe(start.tensors + 1);
        expect(gpu.runtime.stats.bufferBytes, `pool bytes after step ${s}`).toBe(pool);
      }
      l.dispose();
    }
    expect(live()).toEqual(start);
    expect(gpu.runtime.stats.bufferBytes).toBe(pool);
  });
});

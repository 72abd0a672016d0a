/**
 * The one device rule: tensors stay on the backend that made them, ops
 * refuse a mix (naming the op and both backends), `ag.toBackend` is the
 * explicit move, and the integer inputs of training (ids, labels, masks)
 * work on WebGPU in every op that takes them, with the CPU's results.
 */
import { expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { knownValues } from "../../src/ops/create.js";
import { pairEvaluator } from "../../src/train/evaluate.js";
import { initStandinParams, standinModel } from "../train/standin.js";
import { describeWebGPU, expectClose, values } from "./setup.js";

/** Integer-input ops of a training step: embedding gather, masked labels, sequence log-probs, argmax. */
async function integerOps(device: string): Promise<number[][]> {
  const weight = ag.randomNormal([11, 4], { seed: 1, device });
  const ids = ag.tensor(
    [
      [1, 5, 7, 2, 0],
      [3, 3, 10, 9, 4],
    ],
    { dtype: "int32", device },
  );
  const mask = ag.tensor(
    [
      [0, 0, 1, 1, 0],
      [0, 1, 1, 1, 1],
    ],
    { dtype: "float32", device },
  );
  const embedded = ag.nn.embedding({ weight }, ids); // [2, 5, 4]
  const logits = ag.matmul(embedded, ag.transpose(weight)); // [2, 5, 11]
  const { sum, count } = ag.sequenceLogps(logits, ids, mask);
  const kept = ag.where(ag.greater(mask, 0), ids, -1);
  const grad = ag.grad((w: ag.Tensor) =>
    ag.sum(ag.sequenceLogps(ag.matmul(ag.nn.embedding({ weight: w }, ids), ag.transpose(w)), ids, mask).sum),
  )(weight);
  const out = [embedded, sum, count, kept, ag.argmax(logits, -1), ag.equal(ids, 3), grad];
  return Promise.all(out.map(values));
}

describeWebGPU("the one device rule", () => {
  it("ops on int32 ids and masks give the cpu's values on webgpu (embedding, sequence log-probs and their gradient, where, argmax, equal)", async () => {
    const [cpu, gpu] = [await integerOps("cpu"), await integerOps("webgpu")];
    const names = ["embedding", "sequenceLogps sum", "count", "where(mask, ids)", "argmax", "equal", "d sum / d weight"];
    names.forEach((n, i) => expectClose(gpu[i]!, cpu[i]!, n, { exact: i >= 2 && i <= 5 }));
  });

  it("an op given tensors on two backends throws, naming the op and both backends", () => {
    const a = ag.tensor([1, 2], { device: "cpu" }),
      b = ag.tensor([3, 4], { device: "webgpu" });
    expect(() => ag.add(a, b)).toThrow(/add: .*cpu and webgpu/);
    expect(() => ag.matmul(ag.reshape(b, [1, 2]), ag.reshape(a, [2, 1]))).toThrow(/matmul: .*webgpu and cpu/);
  });

  it("ag.toBackend moves a pytree both ways, keeps what is already there and the static leaves", async () => {
    const cpuLeaf = ag.tensor([[1.5, -2]], { device: "cpu" });
    const ids = ag.tensor([4, 2, 9], { dtype: "int32", device: "cpu" });
    const tree = { w: cpuLeaf, nested: [ids, { lr: 0.1, name: "x" }] };
    const there = await ag.toBackend(tree, "webgpu");
    expect(there.w.device).toBe("webgpu");
    expect(there.nested[0]).toBeInstanceOf(ag.Tensor);
    expect((there.nested[0] as ag.Tensor).dtype).toBe("int32");
    expect(there.nested[1]).toEqual({ lr: 0.1, name: "x" });
    expect(await values(there.w)).toEqual([1.5, -2]);
    expect(there.w.shape).toEqual([1, 2]);
    const onGpu = there.w;
    const mixed = await ag.toBackend({ a: onGpu, b: cpuLeaf }, "webgpu");
    expect(mixed.a).toBe(onGpu); // no copy for a leaf already there
    const back = await ag.toBackend(there, "cpu");
    expect(Array.from(back.w.dataSync())).toEqual([1.5, -2]);
    expect(Array.from((back.nested[0] as ag.Tensor).dataSync())).toEqual([4, 2, 9]);
    await expect(ag.toBackend(ag.tensor([1], { dtype: "float64", device: "cpu" }), "webgpu")).rejects.toThrow(/float64/);
    await expect(
      (async () => {
        let p: Promise<unknown> = Promise.resolve();
        ag.grad((x: ag.Tensor) => ((p = ag.toBackend(x, "webgpu")), ag.sum(x)))(cpuLeaf);
        await p;
      })(),
    ).rejects.toThrow(/toBackend: a float32 tensor being differentiated cannot move from cpu to webgpu/);
  });

  it("int32 made from host values on webgpu are known on the host without a readback; computed ones are not", () => {
    const ids = ag.tensor([7, 8, 9], { dtype: "int32", device: "webgpu" });
    expect(Array.from(knownValues(ids)!)).toEqual([7, 8, 9]);
    expect(knownValues(ag.add(ids, 1))).toBeNull();
    expect(knownValues(ag.tensor([1.5], { device: "webgpu" }))).toBeNull(); // floats are data: no host copy kept
  });

  it("ag.train runs where the parameters live, evaluates held-out pairs there, and resumes from its checkpoint as an uninterrupted run", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ag-device-rule-"));
    const m = await ag.data.generateShapes({ out: join(dir, "data"), seed: 3, sftImages: 2, pairImages: 4, evalImages: 2, imageSize: 16 });
    const pairs = ag.data.readMpoMeta(join(dir, "data", m.pairsMeta)).rows;
    const model = standinModel(m.words);
    const params = await ag.toBackend(initStandinParams(model.vocab, 4), "webgpu");
    const opts = {
      model,
      params,
      objective: ag.objectives.dpo({ beta: 0.1 }),
      data: pairs,
      optimizer: ag.optim.adamw({ lr: 1e-2 }),
      batchSize: 2,
      seed: 2,
      progress: false,
      handleSignals: false,
    };
    const evaluator = await pairEvaluator(model, opts.objective, pairs.slice(0, 3), { reference: params, batchSize: 4 });
    try {
      const whole = await ag.train({ ...opts, steps: 3, out: join(dir, "whole"), evaluate: { every: 3, run: (p) => evaluator.run(p) } });
      expect(ag.treeLeaves(whole.params).every((t) => t.device === "webgpu")).toBe(true);
      const evaluated = whole.history.at(-1)!;
      expect(Number.isFinite(evaluated["eval/loss"]), JSON.stringify(evaluated)).toBe(true);
      expect(evaluated["eval/rewards/margins"]).not.toBe(0); // the policy moved from the reference
      const stop = new AbortController();
      const cut = await ag.train({
        ...opts,
        steps: 3,
        out: join(dir, "resumed"),
        signal: stop.signal,
        onStep: (r) => r.step === 2 && stop.abort(),
      });
      expect(cut.step).toBe(2);
      const resumed = await ag.train({ ...opts, steps: 3, out: join(dir, "resumed"), resume: true });
      expect(ag.treeLeaves(resumed.params).every((t) => t.device === "webgpu")).toBe(true);
      expect(resumed.history.map((r) => r.loss)).toEqual(whole.history.map((r) => r.loss));
    } finally {
      await evaluator.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it("ag.train refuses parameters and a reference on two backends, naming both", async () => {
    const p = { w: ag.zeros([2], { device: "cpu" }) };
    const r = { w: ag.zeros([2], { device: "webgpu" }) };
    const model = {} as ag.training.VisionLanguageModel<typeof p>;
    const row = { question: "q", chosen: "a", rejected: "b", images: [], source: { file: "f", line: 1 } };
    await expect(
      ag.train({
        model,
        params: p,
        reference: r,
        objective: ag.objectives.dpo(),
        data: [row as never],
        optimizer: ag.optim.sgd({ lr: 0.1 }),
        steps: 1,
        batchSize: 1,
        out: `${process.env.TMPDIR ?? "/tmp"}/ag-device-rule-${process.pid}`,
        handleSignals: false,
      }),
    ).rejects.toThrow(/train: the parameters and the reference parameters live on two backends, cpu and webgpu/);
  });
});

/** Optimizers, treeMap over several trees and checkpoint loading match trees by key path: a missing or extra key is an error listing both sides. */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";
import { loadCheckpoint, saveCheckpoint } from "../../src/train/checkpoint.js";
import { treeMap } from "../../src/tensor/pytree.js";

const t = (xs: number[]) => ag.tensor(xs, { dtype: "float64" });

describe("trees match by key path", () => {
  it("optimizer.update refuses gradients under other keys than the parameters (not applied by position)", () => {
    const params = { a: t([1, 2]), b: t([3]) };
    for (const opt of [ag.optim.adamw({ lr: 0.1 }), ag.optim.sgd({ lr: 0.1 })]) {
      const state = opt.init(params);
      expect(() => opt.update({ x: t([1, 1]), y: t([1]) } as unknown as typeof params, state, params)).toThrow(
        /update: gradients and parameters have different keys; only in parameters: "a", "b"; only in gradients: "x", "y"/,
      );
      expect(() => opt.update({ a: t([1, 1]) } as unknown as typeof params, state, params)).toThrow(
        /only in parameters: "b"; only in gradients: none/,
      );
      // the same keys in another insertion order are the same tree
      expect(() => opt.update({ b: t([1]), a: t([1, 1]) }, state, params)).not.toThrow();
    }
  });

  it("treeMap over several trees", () => {
    const add = (x: ag.Tensor, y: ag.Tensor) => ag.add(x, y);
    expect(() => treeMap(add, { a: t([1]), b: t([2]) }, { a: t([1]), c: t([2]) })).toThrow(
      /treeMap: tree 1 and tree 0 have different keys; only in tree 0: "b"; only in tree 1: "c"/,
    );
    const r = treeMap<{ a: ag.Tensor; b: ag.Tensor }>(add, { a: t([1]), b: t([2]) }, { b: t([20]), a: t([10]) });
    expect([r.a.item(), r.b.item()]).toEqual([11, 22]);
  });

  it("loadCheckpoint refuses a checkpoint whose tensors differ from the model's, naming both sides", async () => {
    const out = mkdtempSync(join(tmpdir(), "ag-ckpt-keys-"));
    const opt = ag.optim.sgd({ lr: 0.1 });
    const saved = { a: t([1, 2]), extra: t([5]) };
    const dir = await saveCheckpoint(out, saved, opt.init(saved), {
      step: 1,
      seed: 0,
      examplesSeen: 1,
      optimizer: { name: "sgd", step: 1, hparams: {} },
    });
    const template = { a: t([0, 0]), b: t([0]) };
    await expect(loadCheckpoint(dir, template, opt.init(template))).rejects.toThrow(
      /model\.safetensors and the model's parameters have different keys; only in the model's parameters: "b"; only in .*model\.safetensors: "extra"/,
    );
  });
});

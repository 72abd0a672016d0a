/** ag.optim.freeze("visoin"), a pattern matching no parameter, is an error listing the top-level parameter paths. */
import { describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";

const params = {
  vision: { patch: ag.zeros([2]), layers: [{ w: ag.zeros([2]) }] },
  language: { embed: ag.zeros([3]) },
  mlp1: { w: ag.zeros([1]) },
};

describe("freeze", () => {
  it("a typo is refused at init, with the closest prefix and the top-level paths", () => {
    const opt = ag.optim.adamw({ lr: 1e-3, mask: ag.optim.freeze("visoin") });
    expect(() => opt.init(params)).toThrow(
      'freeze("visoin") matches no parameter (did you mean "vision"?); the top-level parameter paths are: language, mlp1, vision',
    );
  });

  it("matches whole path segments and freezes what it names", () => {
    expect(() => ag.optim.sgd({ lr: 1, mask: ag.optim.freeze("visio") }).init(params)).toThrow(/matches no parameter/);
    const opt = ag.optim.sgd({ lr: 1, mask: ag.optim.freeze("vision.layers") });
    const state = opt.init(params);
    const grads = ag.treeMap((p: ag.Tensor) => ag.onesLike(p), params) as typeof params;
    const next = opt.update(grads, state, params).params;
    expect(next.vision.layers[0]!.w).toBe(params.vision.layers[0]!.w);
    expect(next.vision.patch.dataSync()[0]).toBe(-1);
  });
});

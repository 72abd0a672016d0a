/** lr, weightDecay and betas are range-checked when an optimizer is made, not discovered as a wrong run. */
import { describe, expect, it } from "vitest";
import * as ag from "../../src/index.js";

describe("optimizer construction", () => {
  it.each([
    [() => ag.optim.adamw({ lr: -1 }), /adamw: lr must be a finite number > 0, got -1/],
    [() => ag.optim.adamw({ lr: 0 }), /lr must be a finite number > 0/],
    [() => ag.optim.sgd({ lr: Number.NaN }), /sgd: lr must be a finite number > 0, got NaN/],
    [() => ag.optim.adamw({ lr: () => -0.1 }), /the lr schedule gives -0\.1 at step 0/],
    [() => ag.optim.adamw({ lr: 1e-3, weightDecay: -0.1 }), /weightDecay must be >= 0/],
    [() => ag.optim.sgd({ lr: 1e-3, weightDecay: -0.1 }), /sgd: weightDecay must be >= 0/],
    [() => ag.optim.adamw({ lr: 1e-3, beta1: 1 }), /beta1 must be in \[0, 1\), got 1/],
    [() => ag.optim.adamw({ lr: 1e-3, beta2: -0.5 }), /beta2 must be in \[0, 1\)/],
  ])("%s throws", (make, msg) => {
    expect(make).toThrow(msg);
  });

  it("accepts a warmup schedule that starts at 0", () => {
    expect(() => ag.optim.adamw({ lr: ag.optim.warmupCosine({ peak: 1e-3, warmupSteps: 2, totalSteps: 10 }) })).not.toThrow();
  });
});

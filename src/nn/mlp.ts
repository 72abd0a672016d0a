/** Feed-forward blocks: the ViT MLP (fc1 → GELU → fc2) and the SwiGLU MLP of Qwen/LLaMA. */
import { mul } from "../ops/elementwise.js";
import { gelu, silu } from "../ops/nn.js";
import type { DType } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";
import { subSeed } from "./init.js";
import { initLinear, linear, type LinearParams } from "./linear.js";

export interface GeluMlpParams {
  readonly fc1: LinearParams;
  readonly fc2: LinearParams;
}

export interface SwiGluParams {
  readonly gate: LinearParams;
  readonly up: LinearParams;
  readonly down: LinearParams;
}

export const initGeluMlp = (seed: number, dim: number, hidden: number, dtype: DType = "float32"): GeluMlpParams => ({
  fc1: initLinear(subSeed(seed, "fc1"), dim, hidden, { dtype }),
  fc2: initLinear(subSeed(seed, "fc2"), hidden, dim, { dtype }),
});

export const initSwiGlu = (seed: number, dim: number, hidden: number, dtype: DType = "float32"): SwiGluParams => ({
  gate: initLinear(subSeed(seed, "gate"), dim, hidden, { bias: false, dtype }),
  up: initLinear(subSeed(seed, "up"), dim, hidden, { bias: false, dtype }),
  down: initLinear(subSeed(seed, "down"), hidden, dim, { bias: false, dtype }),
});

/** fc2(gelu(fc1(x))) with the exact (erf) GELU. */
export const geluMlp = (p: GeluMlpParams, x: Tensor): Tensor => linear(p.fc2, gelu(linear(p.fc1, x)));

/** down(silu(gate(x)) ⊙ up(x)). */
export const swiGlu = (p: SwiGluParams, x: Tensor): Tensor => linear(p.down, mul(silu(linear(p.gate, x)), linear(p.up, x)));

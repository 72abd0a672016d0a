/**
 * Seeded initialisers. A parameter's values depend only on (seed, its name),
 * through `subSeed`, so adding or removing a layer never shifts the values
 * drawn for the others.
 */
import { full, randomNormal } from "../ops/create.js";
import type { DType } from "../tensor/dtype.js";
import { foldIn } from "../tensor/random.js";
import type { Shape } from "../tensor/shape.js";
import type { Tensor } from "../tensor/tensor.js";

/** An independent seed for the parameter (or sub-module) called `name`. */
export const subSeed = (seed: number, name: string | number): number => foldIn(seed, name);

/** N(0, std²) draws. */
export const normalInit = (seed: number, shape: Shape, std: number, dtype: DType = "float32"): Tensor =>
  randomNormal(shape, { seed, std, dtype });

/** A constant (zeros for biases, ones for norm weights, 0.1 for layer scales). */
export const constantInit = (shape: Shape, value: number, dtype: DType = "float32"): Tensor => full(shape, value, { dtype });

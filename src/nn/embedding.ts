/** Token embeddings: a lookup table [vocab, dim] indexed by int32 ids. */
import { gather } from "../ops/indexing.js";
import type { DType } from "../tensor/dtype.js";
import { DTypeError } from "../tensor/errors.js";
import type { Tensor } from "../tensor/tensor.js";
import { normalInit } from "./init.js";

export interface EmbeddingParams {
  readonly weight: Tensor;
}

export const initEmbedding = (seed: number, vocab: number, dim: number, std = 0.02, dtype: DType = "float32"): EmbeddingParams => ({
  weight: normalInit(seed, [vocab, dim], std, dtype),
});

/** ids [...] int32 -> [..., dim]; an id outside [0, vocab) raises an error naming it. */
export function embedding(p: EmbeddingParams, ids: Tensor): Tensor {
  if (ids.dtype !== "int32") throw new DTypeError(`embedding: token ids must be int32, got ${ids.dtype}`);
  return gather(p.weight, ids, 0);
}

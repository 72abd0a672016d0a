/** Every op, as top-level pure functions with NumPy broadcasting. */
export {
  abs,
  add,
  cos,
  div,
  equal,
  erfOp as erf,
  exp,
  floor,
  greater,
  greaterEqual,
  less,
  lessEqual,
  log,
  log1p,
  maximum,
  minimum,
  mul,
  neg,
  notEqual,
  pow,
  rsqrt,
  sigmoid,
  sign,
  sin,
  sqrt,
  sub,
  tanh,
  where,
  type TensorLike,
} from "./elementwise.js";
export { cast } from "./cast.js";
export { argmax, max, mean, min, sum } from "./reduce.js";
export { layerNorm, logSoftmax, logsumexp, rmsNorm, softmax } from "./rows.js";
export { broadcastTo, concat, expandDims, flatten, mT, pad, reshape, slice, split, squeeze, stack, transpose } from "./shape.js";
export { matmul, type MatmulOptions } from "./linalg.js";
export { gather, oneHot, scatterAdd, take } from "./indexing.js";
export { clip, conv2d, gelu, logSigmoid, relu, silu, softplus, type Conv2dOptions } from "./nn.js";
export { toBackend } from "./move.js"; // explicit moves between backends; ops never mix them

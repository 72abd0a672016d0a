/** The primitives as data: registry, parameter records, shape/dtype rules and pointwise rows. */
export { definePrimitive, kernelPrimitives, type Abstract, type KernelPrimitive, type Primitive } from "./primitive.js";
export type {
  ArgmaxParams,
  KernelPrim,
  MatmulParams,
  NoParams,
  NormGradParams,
  NormParams,
  ParamsOf,
  PrimParams,
  ReduceParams,
} from "./params.js";
export { BINARY, UNARY, type BinaryName, type BinaryRow, type UnaryName, type UnaryRow } from "./pointwise.js";
export { binaryPrims, castPrim, unaryPrims, wherePrim } from "./elementwise.js";
export { argmaxPrim, maxPrim, reducedShape, sumPrim } from "./reduce.js";
export { broadcastToPrim, concatPrim, padPrim, reshapePrim, slicePrim, transposePrim } from "./layout.js";
export { checkIndices, gatherPrim, scatterAddPrim } from "./indexing.js";
export { matmulPrim } from "./linalg.js";
export type { PointwiseInput, PointwisePrim, PointwiseProgram, PointwiseStep } from "./fused.js";
export {
  floatInput,
  layerNormPrim,
  logSoftmaxPrim,
  logsumexpPrim,
  normGradPrim,
  rmsNormPrim,
  softmaxGradPrim,
  softmaxPrim,
} from "./rows.js";

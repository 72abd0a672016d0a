/**
 * anchorgrad: functional autograd for preference-optimization research.
 *
 *   import * as ag from "anchorgrad";
 *   const g = ag.grad((x) => ag.sum(ag.mul(x, x)))(ag.tensor([1, 2, 3]));
 */
export * from "./ops/index.js";
export { Tensor, type NestedArray } from "./tensor/tensor.js";
export { DTYPES, isFloat, type DType } from "./tensor/dtype.js";
export { AnchorError, DTypeError, ShapeError } from "./tensor/errors.js";
export {
  arange,
  full,
  ones,
  onesLike,
  randomNormal,
  randomUniform,
  tensor,
  zeros,
  zerosLike,
  type CreateOptions,
  type RandomOptions,
} from "./ops/create.js";
export { foldIn } from "./tensor/random.js";
export { treeFlatten, treeLeaves, treeMap, treeUnflatten, type PyTree, type TreeDef } from "./tensor/pytree.js";
export { keep, scope } from "./tensor/scope.js";
export { customVjp, grad, jvp, stopGradient, valueAndGrad, vjp } from "./autograd/transforms.js";
export { checkGrads, GradCheckError, type CheckGradsOptions } from "./autograd/check.js";
export { setDebugNans } from "./ir/trace.js";
export { makeGraph } from "./ir/make-graph.js";
export { jit, type JitOptions, type Jitted } from "./ir/jit.js";
export type { Eqn, Graph, Var } from "./ir/graph.js";
export {
  backends,
  currentBackend,
  memoryStats,
  releaseBackend,
  useBackend,
  useBackendFromEnv,
  type BackendName,
  type DeviceMemory,
} from "./backends/registry.js";
export type { Backend, BackendStatus } from "./backends/backend.js";
export * as safetensors from "./io/safetensors.js";
export * as objectives from "./objectives/index.js";
export { exportTorch, ExportError, type ExportTorchOptions } from "./objectives/export-torch.js";
export { sequenceLogps } from "./objectives/sequence-logps.js";
export * as nn from "./nn/index.js";
export * as models from "./models/index.js";
export * as optim from "./optim/index.js";
export * as data from "./data/index.js";
export * as training from "./train/index.js";
export { train } from "./train/loop.js";
export * as report from "./report/index.js";

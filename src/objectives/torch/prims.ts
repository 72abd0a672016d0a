/**
 * One torch expression per primitive. Each entry turns the Python names of
 * an equation's inputs and its (batch-size unified) parameters into the
 * expression for its output. A primitive missing here fails the export with
 * its name (test/objectives/export-torch.test.ts checks that every kernel
 * primitive has an entry, so a new primitive says where to add one).
 */
import type { BinaryName, KernelPrim, UnaryName } from "../../prims/index.js";
import type { DType } from "../../tensor/dtype.js";
import { literal, pyInt, type Sym } from "./symbolic.js";

/** How an emitted expression names a dtype: the traced float64 follows the caller's dtype `dt`. */
export function pyDtype(d: DType): string {
  const names: Record<DType, string> = {
    float64: "dt",
    float32: "torch.float32",
    float16: "torch.float16",
    bfloat16: "torch.bfloat16",
    int32: "torch.int64", // torch indexes with int64
    bool: "torch.bool",
  };
  return names[d];
}

type Emit = (x: readonly string[], p: any) => string;

const shapeText = (s: readonly Sym[]) => `(${s.map(pyInt).join(", ")}${s.length === 1 ? "," : ""})`;
const axesText = (axes: readonly unknown[]) => `[${axes.map((a) => literal(a, "a reduction axis")).join(", ")}]`;
/** Reduce over `axes` (none: the value itself, as torch.sum(x, dim=[]) would sum everything). */
const reduce = (fn: string) => (x: readonly string[], p: { axes: unknown[]; keepdims: boolean }) =>
  p.axes.length ? `torch.${fn}(${x[0]}, dim=${axesText(p.axes)}, keepdim=${p.keepdims ? "True" : "False"})` : x[0]!;

const UNARY: Record<UnaryName, (x: string) => string> = {
  neg: (x) => `torch.neg(${x})`,
  exp: (x) => `torch.exp(${x})`,
  log: (x) => `torch.log(${x})`,
  log1p: (x) => `torch.log1p(${x})`,
  sqrt: (x) => `torch.sqrt(${x})`,
  rsqrt: (x) => `torch.rsqrt(${x})`,
  abs: (x) => `torch.abs(${x})`,
  sign: (x) => `torch.sign(${x})`,
  tanh: (x) => `torch.tanh(${x})`,
  sigmoid: (x) => `torch.sigmoid(${x})`,
  erf: (x) => `torch.erf(${x})`,
  sin: (x) => `torch.sin(${x})`,
  cos: (x) => `torch.cos(${x})`,
  floor: (x) => `torch.floor(${x})`,
};

const BINARY: Record<BinaryName, string> = {
  add: "torch.add",
  sub: "torch.sub",
  mul: "torch.mul",
  div: "torch.div",
  pow: "torch.pow",
  maximum: "torch.maximum",
  minimum: "torch.minimum",
  equal: "torch.eq",
  notEqual: "torch.ne",
  greater: "torch.gt",
  greaterEqual: "torch.ge",
  less: "torch.lt",
  lessEqual: "torch.le",
};

/** The input cotangent of an (un-affine) layer/RMS norm, as src/prims/rows.ts defines normGrad. */
function normGrad([x, h]: readonly string[], p: { eps: number; center: boolean }): string {
  const xc = p.center ? `(${x} - ${x}.mean(-1, keepdim=True))` : x;
  const r = `torch.rsqrt(${xc}.pow(2).mean(-1, keepdim=True) + ${p.eps})`;
  const n = `(${xc} * ${r})`;
  const hc = p.center ? `(${h} - ${h}.mean(-1, keepdim=True))` : h;
  return `${r} * (${hc} - ${n} * (${h} * ${n}).mean(-1, keepdim=True))`;
}

const KERNELS: Record<KernelPrim, Emit> = {
  ...(Object.fromEntries(Object.entries(UNARY).map(([k, f]) => [k, (x: readonly string[]) => f(x[0]!)])) as unknown as Record<
    UnaryName,
    Emit
  >),
  ...(Object.fromEntries(
    Object.entries(BINARY).map(([k, fn]) => [k, (x: readonly string[]) => `${fn}(${x[0]}, ${x[1]})`]),
  ) as unknown as Record<BinaryName, Emit>),
  where: (x) => `torch.where(${x[0]}, ${x[1]}, ${x[2]})`,
  cast: (x, p: { dtype: DType }) => `${x[0]}.to(${pyDtype(p.dtype)})`,
  sum: reduce("sum"),
  max: reduce("amax"),
  argmax: (x, p) => `torch.argmax(${x[0]}, dim=${literal(p.axis, "argmax's axis")}, keepdim=${p.keepdims ? "True" : "False"})`,
  reshape: (x, p) => `${x[0]}.reshape(${shapeText(p.shape)})`,
  transpose: (x, p) => `${x[0]}.permute(${p.perm.map((a: unknown) => literal(a, "a transpose axis")).join(", ")})`,
  broadcastTo: (x, p) => `torch.broadcast_to(${x[0]}, ${shapeText(p.shape)})`,
  slice: (x, p) =>
    `${x[0]}[${p.starts.map((s: Sym, i: number) => `${pyInt(s)}:${pyInt(p.ends[i])}`).join(", ")}${p.starts.length === 1 ? "," : ""}]`,
  pad: (x, p) =>
    `torch.nn.functional.pad(${x[0]}, [${[...p.widths]
      .reverse()
      .flatMap((w: Sym[]) => w.map(pyInt))
      .join(", ")}])`,
  concat: (x, p) => `torch.cat([${x.join(", ")}], dim=${literal(p.axis, "concat's axis")})`,
  // np.take semantics: out = x.shape[:axis] + idx.shape + x.shape[axis+1:]
  gather: ([x, idx], p) => {
    const a = literal(p.axis, "gather's axis");
    return `${x}.index_select(${a}, ${idx}.reshape(-1)).reshape(${x}.shape[:${a}] + ${idx}.shape + ${x}.shape[${a + 1}:])`;
  },
  scatterAdd: ([upd, idx], p) => {
    const a = literal(p.axis, "scatterAdd's axis");
    const shape = shapeText(p.shape);
    return `torch.zeros(${shape}, dtype=${upd}.dtype, device=dev).index_add(${a}, ${idx}.reshape(-1), ${upd}.reshape(${shape}[:${a}] + (-1,) + ${shape}[${a + 1}:]))`;
  },
  matmul: ([a, b], p) => `torch.matmul(${p.transposeA ? `${a}.transpose(-1, -2)` : a}, ${p.transposeB ? `${b}.transpose(-1, -2)` : b})`,
  logsumexp: (x) => `torch.logsumexp(${x[0]}, dim=-1)`,
  softmax: (x) => `torch.softmax(${x[0]}, dim=-1)`,
  softmaxGrad: ([y, g]) => `${y} * (${g} - (${y} * ${g}).sum(-1, keepdim=True))`,
  logSoftmax: (x) => `torch.log_softmax(${x[0]}, dim=-1)`,
  layerNorm: ([x, ...wb], p) =>
    `torch.nn.functional.layer_norm(${x}, ${x}.shape[-1:], ${p.weight ? wb[0] : "None"}, ${p.bias ? wb[wb.length - 1] : "None"}, ${p.eps})`,
  rmsNorm: ([x, w], p) => `${x} * torch.rsqrt(${x}.pow(2).mean(-1, keepdim=True) + ${p.eps})${p.weight ? ` * ${w}` : ""}`,
  normGrad: (x, p) => normGrad(x, p),
};

/** Kernel primitives, plus the staged marker of stopGradient (src/ir/graph.ts). */
export const TORCH: Readonly<Record<string, Emit>> = {
  ...KERNELS,
  stopGradient: (x) => `${x[0]}.detach()`,
};

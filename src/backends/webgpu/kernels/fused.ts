/**
 * The WebGPU renderer of fused pointwise programs (src/prims/fused.ts): one
 * generated WGSL shader per program, each step's expression the pointwise
 * row's own `wgsl` with its operands substituted, intermediates in `let`
 * bindings, only the program's outputs stored; casts convert as the cast
 * kernel does (the jit never fuses half-precision casts).
 */
import { BINARY, UNARY, type PointwiseInput, type PointwiseProgram, type PointwiseStep } from "../../../prims/index.js";
import type { DType } from "../../../tensor/dtype.js";
import { sizeOf } from "../../../tensor/shape.js";
import type { GpuBuffer, Runtime } from "../runtime.js";
import { PRELUDE, decl, deviceBytes, entryLoop, loopGroups, paramsDecl, storageType } from "../wgsl.js";
import { convert } from "./cast.js";
import type { GpuRef } from "./types.js";

const WG = 256;
const ROWS = new Map<string, { wgsl: string; compare?: boolean }>([...UNARY, ...BINARY].map((r) => [r.name, r]));

/** `expr` with its operand names (x; a, b) replaced by value expressions. */
const substitute = (expr: string, names: Record<string, string>): string => expr.replace(/\b([xab])\b/g, (m) => `(${names[m] ?? m})`);

function stepExpr(s: PointwiseStep, v: (i: number) => string, dtypeOf: (i: number) => DType): string {
  if (s.prim === "where") return `select(${v(s.args[2]!)}, ${v(s.args[1]!)}, ${v(s.args[0]!)} != 0u)`;
  if (s.prim === "cast") return convert(dtypeOf(s.args[0]!), s.dtype, v(s.args[0]!));
  const row = ROWS.get(s.prim)!;
  const [a, b] = s.args.map(v);
  const e = s.args.length === 1 ? substitute(row.wgsl, { x: a! }) : substitute(row.wgsl, { a: a!, b: b! });
  return row.compare ? `select(0u, 1u, ${e})` : e;
}

/** The input element that output element idx reads. */
function elementIndex(x: PointwiseInput): string {
  const at = x.repeat > 1 ? `idx / ${x.repeat}u` : "idx";
  return x.period ? `(${at}) % ${x.period}u` : at;
}

interface Rendered {
  readonly name: string;
  readonly key: string;
  readonly wgsl: string;
  readonly outDtypes: readonly DType[];
}

/** Each program's shader is rendered once: a plan hands the same program object to every call. */
const rendered = new WeakMap<PointwiseProgram, Rendered>();

/** How dispatches of `p` are named in counters and errors. */
export const fusedName = (p: PointwiseProgram): string => `fused(${p.steps.map((s) => s.prim).join(",")})`;

/** The program's value numbering: each value's dtype and its WGSL storage type. */
function typesOf(p: PointwiseProgram) {
  const nIn = p.inputs.length;
  const dtypeOf = (i: number): DType => (i < nIn ? p.inputs[i]!.dtype : p.steps[i - nIn]!.dtype);
  return { nIn, dtypeOf, type: (i: number) => storageType(dtypeOf(i), "a fused kernel") };
}

/** `let` lines binding every value of `p` at element idx; input i's element is `load(i)`. */
function valueLines(p: PointwiseProgram, load: (i: number) => string): string[] {
  const { nIn, dtypeOf, type } = typesOf(p);
  const v = (i: number) => `v${i}`;
  return [
    ...p.inputs.map((_, i) => `  let v${i} = ${load(i)};`),
    ...p.steps.map((s, k) => `  let v${nIn + k}: ${type(nIn + k)} = ${stepExpr(s, v, dtypeOf)};`),
  ];
}

const loadAt = (p: PointwiseProgram, name: string) => (i: number) => {
  const x = p.inputs[i]!;
  return `${name}${i}[${x.scalar ? "0u" : elementIndex(x)}]`;
};

/** A rendered epilogue: its WGSL, and a short id standing for that WGSL in pipeline keys. */
export interface Epilogue {
  readonly wgsl: string;
  readonly id: number;
}

/**
 * A matmul's elementwise epilogue: WGSL declaring the program's other
 * inputs as E<i> from @binding(`binding`) on, and `fn epilogue(idx, x)`,
 * the program's one output at output element idx with input `slot` = x
 * (the product's element, which is never stored). Rendered once per
 * program and slot (a plan hands the same program to every call); equal
 * WGSL gets one id, so a pipeline key names it without carrying it.
 */
export function epilogueWgsl(p: PointwiseProgram, slot: number, binding: number): Epilogue {
  const key = `${slot}:${binding}`;
  let bySlot = epilogues.get(p);
  if (!bySlot) epilogues.set(p, (bySlot = new Map()));
  let e = bySlot.get(key);
  if (e === undefined) {
    const wgsl = renderEpilogue(p, slot, binding);
    let id = epilogueIds.get(wgsl);
    if (id === undefined) epilogueIds.set(wgsl, (id = epilogueIds.size));
    bySlot.set(key, (e = { wgsl, id }));
  }
  return e;
}

const epilogues = new WeakMap<PointwiseProgram, Map<string, Epilogue>>();
/** One id per distinct epilogue WGSL, as many as the pipelines built from them. */
const epilogueIds = new Map<string, number>();

function renderEpilogue(p: PointwiseProgram, slot: number, binding: number): string {
  const { type } = typesOf(p);
  const others = p.inputs.map((_, i) => i).filter((i) => i !== slot);
  const load = loadAt(p, "E");
  return [
    ...others.map((i, k) => decl(binding + k, `E${i}`, type(i), "read")),
    `fn epilogue(idx: u32, x: f32) -> f32 {`,
    ...valueLines(p, (i) => (i === slot ? "x" : load(i))),
    `  return v${p.outputs[0]};`,
    `}`,
  ].join("\n");
}

function render(p: PointwiseProgram): Rendered {
  let r = rendered.get(p);
  if (r) return r;
  const { nIn, dtypeOf, type } = typesOf(p);
  const body = [...valueLines(p, loadAt(p, "In")), ...p.outputs.map((o, j) => `  Out${j}[idx] = v${o};`)].join("\n");
  const wgsl = [
    ...p.inputs.map((_, i) => decl(i, `In${i}`, type(i), "read")),
    ...p.outputs.map((o, j) => decl(nIn + j, `Out${j}`, type(o), "read_write")),
    paramsDecl(nIn + p.outputs.length, 1),
    PRELUDE,
    entryLoop(WG, "p(0u)", body),
  ].join("\n");
  r = { name: fusedName(p), key: `fused:${wgsl}`, wgsl, outDtypes: p.outputs.map(dtypeOf) };
  rendered.set(p, r);
  return r;
}

/**
 * Run `p` as one dispatch; null when it binds more storage buffers (inputs +
 * outputs) than the device allows a shader stage (16 on lavapipe; the jit
 * also cuts its programs to that).
 */
export function runFused(rt: Runtime, p: PointwiseProgram, inputs: readonly GpuRef[]): GpuBuffer[] | null {
  if (p.inputs.length + p.outputs.length > rt.limits.maxStorageBuffersPerShaderStage) return null;
  const n = sizeOf(p.shape);
  const r = render(p);
  const outs = r.outDtypes.map((dtype) => rt.alloc(deviceBytes(dtype, n, "a fused kernel"), "an output of a fused kernel"));
  rt.dispatch({
    name: r.name,
    key: r.key,
    wgsl: () => r.wgsl,
    bindings: [
      ...inputs.map((x) => ({ buf: x.buf.buffer, access: "read" as const })),
      ...outs.map((o) => ({ buf: o.buffer, access: "read_write" as const })),
    ],
    params: [n],
    workgroups: loopGroups(n, WG),
  });
  return outs;
}

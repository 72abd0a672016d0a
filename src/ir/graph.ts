/**
 * The staged IR: a function traced on abstract values (shape and dtype, no
 * data) becomes a Graph of equations, one per primitive applied, like a
 * jaxpr. The autodiff, the jit and the torch exporter all read this one form.
 *
 * Tracing works through an AbstractDevice: a tensor whose device is one
 * holds a Var instead of a buffer. trace.ts's evaluate records an equation
 * whenever an input lives on an AbstractDevice, so every op, transform and
 * composite traces without knowing it is being staged. Concrete tensors that
 * meet abstract ones (closed-over weights, constants made inside the
 * function) become the graph's constants.
 */
import type { Primitive } from "../prims/index.js";
import type { Device } from "../tensor/device.js";
import type { DType, StorageArray } from "../tensor/dtype.js";
import { AnchorError } from "../tensor/errors.js";
import { keep } from "../tensor/scope.js";
import { fmt, type Shape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import type { TreeDef } from "../tensor/pytree.js";

/** A value of the graph: an input, a constant or an equation's output. */
export interface Var {
  readonly id: number;
  readonly shape: Shape;
  readonly dtype: DType;
  /** The primitive that produced it; null for inputs and constants. */
  readonly producer: string | null;
}

export interface Eqn {
  readonly prim: Primitive;
  readonly params: unknown;
  readonly inputs: readonly Var[];
  readonly out: Var;
}

export interface Graph {
  readonly inputs: readonly Var[];
  /** Concrete tensors the function closed over or made, each bound to a Var. */
  readonly consts: readonly { readonly v: Var; readonly value: Tensor }[];
  readonly eqns: readonly Eqn[];
  /** Output Vars; an output may also be an input or a constant. */
  readonly outputs: readonly Var[];
  readonly inTree: TreeDef;
  readonly outTree: TreeDef;
  /** The device the concrete constants live on (where a compiled graph runs). */
  readonly device: string | null;
}

/** The device name of values being traced; tensors made "like" one are made on the trace's home device as constants. */
export const ABSTRACT = "abstract";

const homes: (string | null)[] = [];

/**
 * The device the innermost trace's arguments live on (null: none known, use
 * the current backend): constants made while tracing belong there, so that
 * tracing a function of webgpu tensors while cpu is current still gives one
 * device.
 */
export const traceHome = (): string | null => homes[homes.length - 1] ?? null;

/** Run `fn` with `home` as the innermost trace's device. */
export function withTraceHome<T>(home: string | null, fn: () => T): T {
  homes.push(home);
  try {
    return fn();
  } finally {
    homes.pop();
  }
}

/** Where a traced function's values live while it is staged: Vars, not buffers. */
export class AbstractDevice implements Device<Var> {
  readonly name = ABSTRACT;
  readonly holdsNoMemory = true;
  readonly consts: { v: Var; value: Tensor }[] = [];
  readonly eqns: Eqn[] = [];
  private nextId = 0;
  private readonly constOf = new Map<Tensor, Var>();
  constDevice: string | null = null;

  constructor(readonly purpose: string) {}

  newVar(shape: Shape, dtype: DType, producer: string | null): Var {
    return { id: this.nextId++, shape: shape.slice(), dtype, producer };
  }

  /** A fresh abstract tensor (a graph input). */
  input(shape: Shape, dtype: DType): Tensor {
    return new Tensor(shape, dtype, this, this.newVar(shape, dtype, null));
  }

  /** The Var standing for a tensor met while tracing: its own, or a constant bound to a concrete one. */
  varOf(t: Tensor, op: string): Var {
    // a value of a grad/vjp that has returned (captured aux, as eager code reads it) is its primal
    while (t._box && !t._box.tape.active) t = t._box.primal;
    if (t._backend === this) return t._buf as Var;
    if (t._backend instanceof AbstractDevice) {
      throw new AnchorError(`${op}: a value traced by another ${t._backend.purpose} leaked into this one`);
    }
    let v = this.constOf.get(t);
    if (!v) {
      if (this.constDevice && this.constDevice !== t.device) {
        throw new AnchorError(`${op}: constants on two backends (${this.constDevice}, ${t.device}) in one ${this.purpose}`);
      }
      this.constDevice = t.device;
      v = this.newVar(t.shape, t.dtype, null);
      this.constOf.set(t, v);
      t._heldByGraph = true; // code that made it may dispose it later in the trace (scopes do): the graph owns it now
      this.consts.push({ v, value: keep(t) });
    }
    return v;
  }

  record(prim: Primitive, params: unknown, inputs: readonly Tensor[], spec: { shape: Shape; dtype: DType }): Tensor {
    const out = this.newVar(spec.shape, spec.dtype, prim.name);
    this.eqns.push({ prim, params, inputs: inputs.map((x) => this.varOf(x, prim.name)), out });
    return new Tensor(spec.shape, spec.dtype, this, out);
  }

  read(buf: Var): Promise<StorageArray> {
    return Promise.reject(this.hostRead(buf));
  }
  readSync(buf: Var): StorageArray {
    throw this.hostRead(buf);
  }
  free(): void {}

  private hostRead(v: Var): AnchorError {
    const what = v.producer ? `the output of ${v.producer}` : "an input";
    return new AnchorError(
      `a host read (item, dataSync, data, array) of ${what} ${fmt(v.shape)} ${v.dtype}: the value is abstract under ${this.purpose} (shapes and dtypes only, no data); move the read outside the traced function, or compute with ops instead of JS numbers`,
    );
  }
}

/**
 * The identity that marks where gradients stop. stopGradient on a concrete
 * value just drops the tapes; on a staged one it records this equation, so a
 * Graph still says which values carry no gradient (the torch exporter emits
 * `.detach()` there, which ACPO's frozen α needs). Not a kernel primitive:
 * backends never see it.
 */
export const stopGradientPrim: Primitive = {
  name: "stopGradient",
  infer: ([x]) => ({ shape: x!.shape.slice(), dtype: x!.dtype }),
};

/** x itself, or a staged stopGradient equation of x when x is abstract. */
export function stageStopGradient(x: Tensor): Tensor {
  return x._backend instanceof AbstractDevice
    ? x._backend.record(stopGradientPrim, {}, [x], { shape: x.shape.slice(), dtype: x.dtype })
    : x;
}

// --- printing -------------------------------------------------------------

const SHORT: Record<DType, string> = { float32: "f32", float64: "f64", float16: "f16", bfloat16: "bf16", int32: "i32", bool: "bool" };

/** Variable names in order of appearance: a, b, ..., z, ba, bb, ... as jaxprs print them. */
function nameOf(i: number): string {
  let s = "";
  do {
    s = String.fromCharCode(97 + (i % 26)) + s;
    i = Math.floor(i / 26);
  } while (i > 0);
  return s;
}

function paramText(params: unknown): string {
  if (!params || typeof params !== "object") return "";
  const entries = Object.entries(params as Record<string, unknown>).filter(([, v]) => v !== undefined);
  return entries.length ? `[${entries.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(" ")}]` : "";
}

/** A scalar constant's value as text where it can be read synchronously (a literal in the printout), else null. */
function scalarText(t: Tensor): string | null {
  if (t.shape.length !== 0) return null;
  try {
    const v = t.dataSync()[0]!;
    return t.dtype === "bool" ? String(!!v) : Number.isInteger(v) && !t.dtype.startsWith("int") ? v.toFixed(1) : String(v);
  } catch {
    return null;
  }
}

/**
 * A stable, readable text form, like a jaxpr (scalar constants inline as literals):
 *
 *   { lambda c:f32[] ; a:f32[3] b:f32[3] . let
 *       d:f32[3] = mul a b
 *       e:f32[3] = add d c
 *     in (e) }
 */
export function graphToString(g: Graph): string {
  const names = new Map<number, string>();
  const literals = new Map<number, string>();
  for (const c of g.consts) {
    const text = scalarText(c.value);
    if (text !== null) literals.set(c.v.id, `${text}:${SHORT[c.v.dtype]}`);
  }
  const name = (v: Var) => {
    let n = literals.get(v.id) ?? names.get(v.id);
    if (!n) names.set(v.id, (n = nameOf(names.size)));
    return n;
  };
  const typed = (v: Var) => `${name(v)}:${SHORT[v.dtype]}[${v.shape.join(",")}]`;
  const consts = g.consts
    .filter((c) => !literals.has(c.v.id))
    .map((c) => typed(c.v))
    .join(" ");
  const inputs = g.inputs.map(typed).join(" ");
  const lines = g.eqns.map((e) => {
    const params = paramText(e.params);
    return `    ${typed(e.out)} = ${e.prim.name}${params ? " " + params : ""} ${e.inputs.map(name).join(" ")}`;
  });
  return [`{ lambda ${consts}${consts ? " " : ""}; ${inputs} . let`, ...lines, `  in (${g.outputs.map(name).join(", ")}) }`].join("\n");
}

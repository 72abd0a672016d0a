/** Creating tensors: from JS data, constants, ranges and seeded random draws. */
import { currentBackend, getBackend } from "../backends/registry.js";
import type { Backend } from "../backends/backend.js";
import { ABSTRACT, traceHome } from "../ir/graph.js";
import { assertDType, fromNumbers, isFloat, type DType, type StorageArray } from "../tensor/dtype.js";
import { ShapeError } from "../tensor/errors.js";
import { normals, uniforms } from "../tensor/random.js";
import { checkShape, fmt, sizeOf, type Shape } from "../tensor/shape.js";
import { Tensor, type NestedArray } from "../tensor/tensor.js";

export interface CreateOptions {
  dtype?: DType;
  shape?: Shape;
  device?: string;
}

/**
 * The backend a tensor made "on `device`" goes to: the one named, or the
 * current one; for a value being traced ("abstract"), the trace's home
 * device, where its constants live.
 */
export function backendFor(device: string | undefined): Backend {
  if (device === ABSTRACT) device = traceHome() ?? undefined;
  return device ? getBackend(device) : currentBackend();
}

/** Wrap already-encoded storage values. */
export function fromStorage(values: StorageArray, shape: Shape, dtype: DType, device?: string): Tensor {
  const b = backendFor(device);
  const t = new Tensor(shape, dtype, b, b.upload(values, dtype));
  if ((dtype === "int32" || dtype === "bool") && b.name !== "cpu" && values.length <= HOST_COPY_LIMIT) hostCopies.set(t, values.slice());
  return t;
}

/**
 * Integer tensors made from host values on a backend that cannot read
 * synchronously (webgpu) remember those values, so that code which must
 * know them on the host (token ids decide where InternVL's image features
 * go and are checked against the vocabulary) needs no GPU readback. Only
 * int32 and bool, and only up to this many elements: ids and masks, not
 * data. Tensors are immutable, so the copy stays true; it goes with the tensor.
 */
const HOST_COPY_LIMIT = 1 << 22;
const hostCopies = new WeakMap<Tensor, StorageArray>();

/**
 * The values of `t` known on the host without a GPU readback: a
 * synchronous read where the backend allows one (cpu), else the values it
 * was created from (see hostCopies), else null (it was computed on the GPU;
 * reading it needs `await t.data()`).
 */
export function knownValues(t: Tensor): ArrayLike<number> | null {
  const c = t.concrete();
  const copy = hostCopies.get(c); // int32 and bool: storage values are the numbers
  if (copy) return copy;
  // cpu reads synchronously; the makeGraph device's read throws its own message (the values are abstract)
  return c._backend.name === "cpu" || c._backend.holdsNoMemory ? c.dataSync() : null;
}

type Data = number | boolean | NestedData[] | ArrayLike<number>;
type NestedData = number | boolean | NestedData[];

/**
 * A tensor from a number, nested arrays or a typed array. The dtype defaults
 * to the typed array's own (Float64Array -> float64, Int32Array -> int32),
 * bool for booleans, else float32.
 */
export function tensor(data: Data | Tensor, opts: CreateOptions = {}): Tensor {
  if (data instanceof Tensor) return data;
  let flat: ArrayLike<number>;
  let inferred: number[];
  let dtype: DType = opts.dtype ? assertDType(opts.dtype, "tensor") : "float32";
  if (ArrayBuffer.isView(data)) {
    flat = data as unknown as ArrayLike<number>;
    inferred = [flat.length];
    if (!opts.dtype)
      dtype =
        data instanceof Float64Array ? "float64" : data instanceof Int32Array ? "int32" : data instanceof Uint8Array ? "bool" : "float32";
  } else {
    const out: number[] = [];
    inferred = shapeOfNested(data as NestedData, []);
    flatten(data as NestedData, inferred, 0, out);
    flat = out;
    if (!opts.dtype && isBoolData(data as NestedData)) dtype = "bool";
  }
  const shape = opts.shape ? checkShape(opts.shape, "tensor") : inferred;
  if (sizeOf(shape) !== flat.length) {
    throw new ShapeError(`tensor: ${flat.length} values do not fill shape ${fmt(shape)}`);
  }
  return fromStorage(fromNumbers(flat, dtype), shape, dtype, opts.device);
}

function isBoolData(d: NestedData): boolean {
  return typeof d === "boolean" || (Array.isArray(d) && d.length > 0 && isBoolData(d[0]!));
}

function shapeOfNested(d: NestedData, acc: number[]): number[] {
  if (!Array.isArray(d)) return acc;
  return d.length === 0 ? [...acc, 0] : shapeOfNested(d[0]!, [...acc, d.length]);
}

function flatten(d: NestedData, shape: number[], depth: number, out: number[]): void {
  if (depth === shape.length) {
    if (Array.isArray(d)) throw new ShapeError(`tensor: ragged nested array (too deep at depth ${depth})`);
    if (typeof d !== "number" && typeof d !== "boolean") throw new ShapeError(`tensor: element ${JSON.stringify(d)} is not a number`);
    out.push(Number(d));
    return;
  }
  if (!Array.isArray(d) || d.length !== shape[depth]) {
    throw new ShapeError(
      `tensor: ragged nested array: expected length ${shape[depth]} at depth ${depth}, got ${Array.isArray(d) ? d.length : "a scalar"}`,
    );
  }
  for (const e of d) flatten(e, shape, depth + 1, out);
}

export function full(shape: Shape, value: number, opts: Omit<CreateOptions, "shape"> = {}): Tensor {
  const s = checkShape(shape, "full");
  const dtype = opts.dtype ? assertDType(opts.dtype, "full") : "float32";
  return fromStorage(fromNumbers(new Float64Array(sizeOf(s)).fill(value), dtype), s, dtype, opts.device);
}

export const zeros = (shape: Shape, opts: Omit<CreateOptions, "shape"> = {}): Tensor => full(shape, 0, opts);
export const ones = (shape: Shape, opts: Omit<CreateOptions, "shape"> = {}): Tensor => full(shape, 1, opts);
export const zerosLike = (x: Tensor): Tensor => full(x.shape, 0, { dtype: x.dtype, device: x.device });
export const onesLike = (x: Tensor): Tensor => full(x.shape, 1, { dtype: x.dtype, device: x.device });

/** 0, 1, ..., n-1 (int32 unless a dtype is given). */
export function arange(n: number, opts: Omit<CreateOptions, "shape"> = {}): Tensor {
  if (!Number.isInteger(n) || n < 0) throw new ShapeError(`arange: n must be a non-negative integer, got ${n}`);
  const dtype = opts.dtype ?? "int32";
  return fromStorage(
    fromNumbers(
      Float64Array.from({ length: n }, (_, i) => i),
      dtype,
    ),
    [n],
    dtype,
    opts.device,
  );
}

export interface RandomOptions {
  seed: number;
  dtype?: DType;
  device?: string;
  /** Counter offset: draws [offset, offset + size) of the seed's stream. */
  offset?: number;
}

function checkRandom(op: string, shape: Shape, opts: RandomOptions): { s: number[]; dtype: DType } {
  if (!opts || !Number.isFinite(opts.seed))
    throw new ShapeError(`${op}: a numeric { seed } is required, got ${JSON.stringify(opts?.seed)}`);
  const dtype = opts.dtype ?? "float32";
  if (!isFloat(dtype)) throw new ShapeError(`${op}: dtype must be a float type, got ${dtype}`);
  return { s: checkShape(shape, op), dtype };
}

export function randomNormal(shape: Shape, opts: RandomOptions & { mean?: number; std?: number }): Tensor {
  const { s, dtype } = checkRandom("randomNormal", shape, opts);
  const v = normals(opts.seed, sizeOf(s), opts.offset);
  const mean = opts.mean ?? 0,
    std = opts.std ?? 1;
  if (mean !== 0 || std !== 1) for (let i = 0; i < v.length; i++) v[i] = mean + std * v[i]!;
  return fromStorage(fromNumbers(v, dtype), s, dtype, opts.device);
}

export function randomUniform(shape: Shape, opts: RandomOptions & { min?: number; max?: number }): Tensor {
  const { s, dtype } = checkRandom("randomUniform", shape, opts);
  const v = uniforms(opts.seed, sizeOf(s), opts.offset);
  const lo = opts.min ?? 0,
    hi = opts.max ?? 1;
  for (let i = 0; i < v.length; i++) v[i] = lo + (hi - lo) * v[i]!;
  return fromStorage(fromNumbers(v, dtype), s, dtype, opts.device);
}

export type { NestedArray };

/**
 * The widest float a backend stores: float64 on the cpu; WebGPU has no
 * float64, so float32 there. For sums and host values that should lose
 * nothing where they can (norms, reference log-probs).
 */
export const widestFloat = (device: string): DType => (device === "webgpu" ? "float32" : "float64");

/**
 * The Tensor: an immutable n-d array on a device. A Tensor either owns a
 * backend buffer (a concrete value) or is a tracer that boxes another tensor
 * while a gradient transform records the ops applied to it (see
 * autograd/trace.ts). Users never need to tell the two apart.
 */
import { byteSize, isHalf, toNumbers, type DType, type StorageArray } from "./dtype.js";
import { AnchorError } from "./errors.js";
import type { Device } from "./device.js";
import { onAlloc, onFree } from "./memory.js";
import { fmt, sizeOf, type Shape } from "./shape.js";

/** A tracer's link to the value it boxes and to the tape that records it. */
export interface Box {
  readonly primal: Tensor;
  readonly tape: { readonly level: number; active: boolean };
  readonly node: unknown;
}

export class Tensor {
  readonly shape: Shape;
  readonly dtype: DType;
  readonly size: number;
  /** @internal backend buffer; null for tracers and once disposed */
  _buf: unknown;
  /** @internal */
  readonly _backend: Device;
  /** @internal set on tracers only */
  readonly _box: Box | null;
  private disposed = false;
  /**
   * @internal set when a staged graph (makeGraph, jit) captures this tensor
   * as a constant: the graph owns it from then on, and dispose() leaves it
   * alive (tensors are immutable, so the graph stays true).
   */
  _heldByGraph = false;

  /** @internal use ag.tensor(), ag.zeros(), ... */
  constructor(shape: Shape, dtype: DType, backend: Device, buf: unknown, box: Box | null = null) {
    this.shape = Object.freeze(shape.slice());
    this.dtype = dtype;
    this.size = sizeOf(shape);
    this._backend = backend;
    this._buf = buf;
    this._box = box;
    if (!box && !backend.holdsNoMemory) onAlloc(this, backend.name, this.size * byteSize(dtype));
  }

  get device(): string {
    return this._backend.name;
  }
  get ndim(): number {
    return this.shape.length;
  }

  /** The concrete tensor under any tracer boxes. */
  concrete(): Tensor {
    let t: Tensor = this;
    while (t._box) t = t._box.primal;
    if (t.disposed) {
      throw new AnchorError(
        `tensor ${fmt(t.shape)} ${t.dtype} was disposed (scope() releases what it made unless it is returned or keep()-ed)`,
      );
    }
    return t;
  }

  /** Flat values (float16/bfloat16 expanded to float32), from any device. */
  async data(): Promise<Float32Array | Float64Array | Int32Array | Uint8Array> {
    const c = this.forHostRead("data()");
    const raw = await c._backend.read(c._buf, c.dtype, c.size);
    return toNumbers(raw, c.dtype) as Float32Array;
  }

  /** Flat values, synchronously; only backends that can read synchronously (cpu). */
  dataSync(): Float32Array | Float64Array | Int32Array | Uint8Array {
    const c = this.forHostRead("dataSync()");
    return toNumbers(c._backend.readSync(c._buf, c.dtype, c.size), c.dtype) as Float32Array;
  }

  /** @internal raw storage (half formats as bit patterns) */
  rawSync(): StorageArray {
    const c = this.concrete();
    return c._backend.readSync(c._buf, c.dtype, c.size);
  }

  /** Nested JS arrays (a number for a scalar). */
  async array(): Promise<NestedArray> {
    return nest(Array.from(await this.data()), this.shape);
  }
  arraySync(): NestedArray {
    return nest(Array.from(this.dataSync()), this.shape);
  }

  /** The value of a one-element tensor as a JS number (cpu). */
  item(): number {
    if (this.size !== 1) throw new AnchorError(`item(): tensor has shape ${fmt(this.shape)}, not a single element`);
    return this.dataSync()[0]!;
  }

  /**
   * The concrete tensor, for a read on the host. Under an active grad, vjp
   * or jvp a read is refused: a JS number carries no gradient, so whatever
   * is computed from it would silently get a zero gradient.
   */
  private forHostRead(what: string): Tensor {
    for (let t: Tensor = this; t._box; t = t._box.primal) {
      if (t._box.tape.active) {
        throw new AnchorError(
          `${what} of a value traced by grad/vjp/jvp ${fmt(this.shape)} ${this.dtype}: a JS number carries no gradient, so what is computed from it would get a silent zero gradient; read stopGradient(x) for a constant, or move the read outside the transform`,
        );
      }
    }
    return this.concrete();
  }

  /** Release the buffer now instead of at the end of the enclosing scope. */
  dispose(): void {
    if (this._box || this.disposed || this._heldByGraph || this._backend.holdsNoMemory) return;
    this.disposed = true;
    this._backend.free(this._buf, this.dtype, this.size);
    this._buf = null;
    onFree(this, this._backend.name, this.size * byteSize(this.dtype));
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  toString(): string {
    const kind = this._box ? "Tracer" : "Tensor";
    const half = isHalf(this.dtype) ? " (storage)" : "";
    return `${kind}(${fmt(this.shape)}, ${this.dtype}${half}, ${this.device})`;
  }
}

export type NestedArray = number | NestedArray[];

function nest(flat: number[], shape: Shape): NestedArray {
  if (shape.length === 0) return flat[0]!;
  const [d, ...rest] = shape;
  const step = sizeOf(rest);
  return Array.from({ length: d! }, (_, i) => nest(flat.slice(i * step, (i + 1) * step), rest));
}

export function isTensor(x: unknown): x is Tensor {
  return x instanceof Tensor;
}

/** Visit every tensor (and the concrete tensors under tracers) in a pytree. */
export function forEachTensor(value: unknown, fn: (t: Tensor) => void): void {
  if (value instanceof Tensor) {
    let t: Tensor | undefined = value;
    while (t) {
      fn(t);
      t = t._box?.primal;
    }
  } else if (Array.isArray(value)) {
    for (const v of value) forEachTensor(v, fn);
  } else if (value && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) forEachTensor(v, fn);
  }
}

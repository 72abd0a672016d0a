/**
 * What keeps a training step on the parameters' device: per-example values
 * (the reference log-probs) held there as one tensor and gathered per batch,
 * and the step's scalar metrics read back together, once, at its end. On
 * WebGPU every host read is a queue flush and a map; one per step is the
 * budget.
 */
import { cast } from "../ops/cast.js";
import { fromStorage, widestFloat } from "../ops/create.js";
import { add, mul } from "../ops/elementwise.js";
import { gather } from "../ops/indexing.js";
import { reshape, slice, stack } from "../ops/shape.js";
import type { DType } from "../tensor/dtype.js";
import { scope } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import type { MetricRow } from "./metrics.js";

/** One number per example, uploaded once and kept on `device` as an [n] tensor of its widest float. */
export class DeviceColumn {
  private readonly values: Tensor;
  constructor(values: readonly number[], device: string) {
    const dtype = widestFloat(device);
    this.values = fromStorage(dtype === "float64" ? Float64Array.from(values) : Float32Array.from(values), [values.length], dtype, device);
  }

  /** The values of these examples in `dtype`, gathered on the device (only the indices are uploaded). */
  rows(indices: readonly number[], dtype: DType): Tensor {
    const picked = gather(this.values, fromStorage(Int32Array.from(indices), [indices.length], "int32", this.values.device), 0);
    return cast(picked, dtype);
  }

  dispose(): void {
    this.values.dispose();
  }
}

/** The first element of each tensor as a number, with one host read per dtype (one in all on WebGPU). */
export async function readScalars(scalars: Readonly<Record<string, Tensor>>): Promise<MetricRow> {
  const names = Object.keys(scalars);
  const groups = new Map<DType, string[]>();
  for (const k of names) {
    const t = scalars[k]!;
    const d: DType = t.dtype === "float64" ? "float64" : "float32"; // bool and int metrics are read as float32
    groups.set(d, [...(groups.get(d) ?? []), k]);
  }
  const row: MetricRow = {};
  for (const [dtype, keys] of groups) {
    const packed = scope(() =>
      stack(
        keys.map((k) => cast(slice(reshape(scalars[k]!, [scalars[k]!.size]), [0], [1]), dtype)),
        0,
      ),
    );
    const values = await packed.data();
    packed.dispose();
    keys.forEach((k, i) => (row[k] = values[i]!));
  }
  return Object.fromEntries(names.map((k) => [k, row[k]!]));
}

/** The mean over a step's passes of each metric, on the device (the passes share their metric names). */
export function meanScalars(passes: readonly Readonly<Record<string, Tensor>>[]): Record<string, Tensor> {
  if (passes.length === 1) return { ...passes[0]! };
  const out: Record<string, Tensor> = {};
  for (const k of Object.keys(passes[0]!))
    out[k] = mul(
      passes.map((p) => p[k]!).reduce((a, b) => add(a, b)),
      1 / passes.length,
    );
  return out;
}

/** The cpu backend: buffers are typed arrays; kernels are in kernels.ts. */
import type { Backend, Kernel } from "../backend.js";
import type { StorageArray } from "../../tensor/dtype.js";
import { AnchorError } from "../../tensor/errors.js";
import { runPointwise } from "./fused.js";
import { cpuKernels } from "./kernels.js";
import { releaseBuffer, takeBuffer } from "./pool.js";

export const cpuBackend: Backend<StorageArray> = {
  name: "cpu",
  upload(values, dtype) {
    const buf = takeBuffer(dtype, values.length, true);
    buf.set(values as Float64Array);
    return buf;
  },
  read: async (buf) => buf.slice(),
  readSync: (buf) => buf.slice(),
  free: (buf, dtype) => releaseBuffer(buf, dtype),
  run(prim, inputs, params, out) {
    const k = cpuKernels[prim] as Kernel<typeof params, StorageArray> | undefined;
    if (!k) throw new AnchorError(`cpu backend has no kernel for primitive "${prim}"`);
    return k(inputs, params, out);
  },
  kernelNames: () => Object.keys(cpuKernels),
  runPointwise: (program, inputs) =>
    runPointwise(
      program,
      inputs.map((x) => x.buf),
    ),
};

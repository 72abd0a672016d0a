/**
 * Runs the jit's fused float32 programs on their generated Wasm SIMD loops
 * (fused-module.ts): one module per program structure, loaded into the
 * running threads on first use, and the elements split into units that
 * every thread claims, as the single-op kernels do (elementwise.ts).
 */
import type { PointwiseProgram } from "../../../prims/index.js";
import type { StorageArray } from "../../../tensor/dtype.js";
import { sizeOf } from "../../../tensor/shape.js";
import { place, run, UNIT } from "./elementwise.js";
import { buildFusedModule, classOf, fusable, structureKey } from "./fused-module.js";
import type { Block } from "./heap.js";
import { inWasmMemory } from "./heap.js";
import { MEMORY, wasmRuntime } from "./runtime.js";
import type { Unit } from "./threads.js";

/** Kernel index of each structure's loop; null where the Wasm loop cannot run the program. */
const kernels = new Map<string, number | null>();
const byProgram = new WeakMap<PointwiseProgram, number | null>();

/** How many loops were generated (one per program structure): lets tests see that this path ran. */
export const generatedLoops = (): number => [...kernels.values()].filter((k) => k !== null).length;

function kernelFor(p: PointwiseProgram): number | null {
  let k = byProgram.get(p);
  if (k !== undefined) return k;
  const key = structureKey(p);
  k = kernels.get(key);
  if (k === undefined) {
    k = null;
    if (fusable(p)) {
      const threads = wasmRuntime().threads,
        name = `fused.${kernels.size}`;
      threads.load({ name, bytes: buildFusedModule(p, MEMORY), exports: ["fused"] });
      k = threads.kernel(name, "fused");
    }
    kernels.set(key, k);
  }
  byProgram.set(p, k);
  return k;
}

/** Whether the generated loop runs `p` (its steps and dtypes; operands are checked when it runs). */
export const wasmRuns = (p: PointwiseProgram): boolean => kernelFor(p) !== null;

/**
 * Run `p` (for which wasmRuns holds) over `inputs` into `outs` (float32, in
 * the Wasm heap) on its generated loop; false, leaving the outputs
 * untouched, where an output lies outside the heap or an operand is too big
 * to stage.
 */
export function wasmPointwise(p: PointwiseProgram, inputs: readonly StorageArray[], outs: readonly StorageArray[]): boolean {
  const kernel = kernelFor(p);
  if (kernel === null || !outs.every(inWasmMemory)) return false;
  const rt = wasmRuntime(),
    blocks: Block[] = [];
  const ptrs = place(rt, inputs, blocks);
  if (!ptrs) {
    for (const b of blocks) rt.heap.free(b);
    return false;
  }
  const table = rt.heap.alloc(4 * (inputs.length + outs.length), true)!;
  blocks.push(table);
  new Int32Array(rt.threads.memory.buffer, table.ptr, inputs.length + outs.length).set([...ptrs, ...outs.map((o) => o.byteOffset)]);
  const n = sizeOf(p.shape),
    period = p.inputs.find((x) => classOf(x) === "p")?.period ?? 0,
    repeated = p.inputs.find((x) => classOf(x).startsWith("r")),
    units: Unit[] = [];
  for (let j = 0; j < n; j += UNIT)
    units.push({ kernel, args: [table.ptr, j, Math.min(n, j + UNIT), period, repeated?.repeat ?? 1, repeated?.period ?? 0] });
  run(rt, units, n, blocks);
  return true;
}

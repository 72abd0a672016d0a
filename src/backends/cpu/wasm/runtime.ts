/**
 * The one Wasm runtime of the cpu backend, made on first use: the GEMM
 * kernels (f32, f64), the f32 elementwise kernels and the f32 kernels of the
 * fused row primitives and the strided copy, instantiated on the main thread and on the worker
 * threads over one shared memory, plus the heap that cpu buffers and GEMM
 * staging come from.
 *
 * ANCHORGRAD_THREADS sets the thread count; ANCHORGRAD_WASM_HEAP_MB the
 * heap's cap (default 2048; buffers past it are ordinary typed arrays);
 * ANCHORGRAD_WASM=0 turns all of it off (JS kernels only).
 */
import { buildElementwiseModule } from "./elementwise-module.js";
import { buildRowsModule } from "./rows-module.js";
import { buildCopyModule } from "./copy-module.js";
import { buildGemmModule, DEFAULT_TILES, workspaceBytes, type FloatKind } from "./gemm-module.js";
import { WasmHeap } from "./heap.js";
import { defaultThreadCount, wasmAvailable, WasmThreads, type KernelSet } from "./threads.js";

/** Whether the Wasm kernels and heap are used: WebAssembly is there and ANCHORGRAD_WASM is not "0". */
export const wasmEnabled = wasmAvailable() && process.env.ANCHORGRAD_WASM !== "0";

export interface WasmRuntime {
  readonly threads: WasmThreads;
  readonly heap: WasmHeap;
}

const GEMM_KINDS: readonly FloatKind[] = ["f32", "f64"];
export const MEMORY = { initialPages: 1, maxPages: 65536 };

let runtime: WasmRuntime | null = null;

export function wasmRuntime(): WasmRuntime {
  if (!runtime) {
    const scratch = Math.max(...GEMM_KINDS.map((k) => workspaceBytes(k, DEFAULT_TILES[k])));
    const sets: KernelSet[] = GEMM_KINDS.map((k) => ({
      name: `gemm.${k}`,
      bytes: buildGemmModule(k, DEFAULT_TILES[k], MEMORY),
      exports: ["gemm"],
    }));
    sets.push({ name: "ew.f32", ...buildElementwiseModule(MEMORY) });
    sets.push({ name: "rows.f32", ...buildRowsModule(MEMORY) });
    sets.push({ name: "copy.32", ...buildCopyModule(MEMORY) });
    const threads = new WasmThreads(sets, scratch, defaultThreadCount());
    const mb = Number(process.env.ANCHORGRAD_WASM_HEAP_MB);
    runtime = { threads, heap: new WasmHeap(threads, (Number.isFinite(mb) && mb >= 0 ? mb : 2048) * 2 ** 20) };
  }
  return runtime;
}

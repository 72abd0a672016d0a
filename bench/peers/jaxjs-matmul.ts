/**
 * jax-js's WebGPU matmul at n³ in float32 or float16, for bench/gpu.ts. The
 * op-table peer (jaxjs.ts) has no dtype axis, so this one adds it; jax-js is
 * started through that peer's init (one Dawn instance on navigator.gpu, the
 * same adapter as ours). Its float16 needs the adapter's shader-f16.
 */
import { jaxjs } from "./jaxjs.js";

/* eslint-disable @typescript-eslint/no-explicit-any */
export interface PeerMatmul {
  /** Why jax-js cannot run here, or null. */
  init(): Promise<string | null>;
  /** Upload A and B (n × n, float32 values) as `dtype`; returns the timed run and a float32 read of the product. */
  prepare(
    n: number,
    dtype: "float32" | "float16",
    a: Float32Array,
    b: Float32Array,
  ): Promise<{ thunk: () => Promise<void>; result: () => Promise<Float32Array> }>;
  release(): void;
}

export function jaxjsMatmul(): PeerMatmul {
  const base = jaxjs("webgpu");
  let jax: any = null;
  let made: any[] = [];
  return {
    async init() {
      const why = await base.init();
      if (why) return why;
      jax = await import("@jax-js/jax");
      return null;
    },
    async prepare(n, dtype, a, b) {
      const np = jax.numpy;
      // jax-js ops consume their inputs: astype takes the float32 upload, `.ref` keeps A and B alive across runs
      const up = (v: Float32Array) => {
        const x = np.array(v, { device: "webgpu" }).reshape([n, n]);
        const y = dtype === "float16" ? x.astype(np.float16) : x;
        made.push(y);
        return y;
      };
      const A = up(a),
        B = up(b);
      return {
        thunk: async () => {
          const c = np.matmul(A.ref, B.ref);
          await jax.blockUntilReady(c);
          c.dispose();
        },
        result: async () => Float32Array.from(await np.matmul(A.ref, B.ref).astype(np.float32).data()),
      };
    },
    release() {
      if (jax) jax.tree.dispose(made);
      made = [];
    },
  };
}

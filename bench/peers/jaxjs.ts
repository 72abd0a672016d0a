/**
 * jax-js 0.1 on its Wasm backend (single-threaded under Node: its worker
 * pool needs the browser's Worker) and on WebGPU through Dawn. Ops are run
 * eagerly, as a model written op by op runs; jax-js's reference counting
 * means every reused input is passed as `.ref`.
 */
import { data, labels, type Case } from "../cases.js";
import { errorText, type Impl } from "../impl.js";

/* eslint-disable @typescript-eslint/no-explicit-any */
let jaxModule: any = null;
let devicesUp: string[] | null = null;

/** Start jax-js once with every device it can find (webgpu needs Dawn on navigator.gpu first). */
export async function startJax(): Promise<any> {
  if (jaxModule) return jaxModule;
  const g = globalThis as any;
  if (g.navigator === undefined) {
    try {
      const dawn: any = await import("webgpu");
      Object.assign(globalThis, dawn.globals);
      g.navigator = { gpu: dawn.create([]), userAgent: "node" };
    } catch {
      g.navigator = {};
    }
  }
  jaxModule = await import("@jax-js/jax");
  devicesUp = await jaxModule.init();
  return jaxModule;
}

export function jaxjs(backend: "cpu" | "webgpu"): Impl {
  const device = backend === "cpu" ? "wasm" : "webgpu";
  let made: any[] = [];
  let jax: any;
  const arr = (values: Float32Array | Int32Array, shape: number[]) => {
    const x = jax.numpy.array(values, { device }).reshape(shape);
    made.push(x);
    return x;
  };
  const runner = (fn: () => any) => async () => {
    const out = fn();
    await jax.blockUntilReady(out);
    jax.tree.dispose(out);
  };
  return {
    impl: "jax-js",
    backend,
    async init() {
      try {
        jax = await startJax();
        return devicesUp!.includes(device) ? null : `jax-js found no ${device} device (has ${devicesUp!.join(", ")})`;
      } catch (e) {
        return errorText(e);
      }
    },
    async prepare(c: Case) {
      const np = jax.numpy,
        nn = jax.nn,
        s = c.spec;
      switch (s.kind) {
        case "matmul": {
          const a = arr(data(s.n * s.n, 1), [s.n, s.n]),
            b = arr(data(s.n * s.n, 2), [s.n, s.n]);
          return runner(() => np.matmul(a.ref, b.ref));
        }
        case "bmm": {
          const a = arr(data(s.b * s.m * s.k, 1), [s.b, s.m, s.k]),
            b = arr(data(s.b * s.k * s.n, 2), [s.b, s.k, s.n]);
          return runner(() => np.matmul(a.ref, b.ref));
        }
        case "softmax": {
          const x = arr(data(s.rows * s.cols, 1, 4), [s.rows, s.cols]);
          return runner(() => nn.softmax(x.ref, -1));
        }
        case "layerNorm": {
          const x = arr(data(s.rows * s.cols, 1, 4), [s.rows, s.cols]),
            w = arr(data(s.cols, 2), [s.cols]),
            b = arr(data(s.cols, 3), [s.cols]);
          return runner(() => nn.standardize(x.ref, -1, { epsilon: 1e-5 }).mul(w.ref).add(b.ref));
        }
        case "attention": {
          const n = s.H * s.T * s.D,
            shape = [s.H, s.T, s.D];
          const q = arr(data(n, 1), shape),
            k = arr(data(n, 2), shape),
            v = arr(data(n, 3), shape);
          const mask = np.tri(s.T, s.T, 0, { dtype: np.bool, device });
          made.push(mask);
          const f = (p: any) => {
            const scores = np.matmul(p.q, np.transpose(p.k, [0, 2, 1])).mul(1 / Math.sqrt(s.D));
            return np.matmul(nn.softmax(np.where(mask.ref, scores, -Infinity), -1), p.v).sum();
          };
          const vg = jax.valueAndGrad(f);
          return runner(() => vg({ q: q.ref, k: k.ref, v: v.ref }));
        }
        case "conv": {
          const x = arr(data(s.N * s.C * s.HW * s.HW, 1), [s.N, s.C, s.HW, s.HW]),
            w = arr(data(s.O * s.C * s.P * s.P, 2, 0.1), [s.O, s.C, s.P, s.P]);
          const b = arr(data(s.O, 3), [1, s.O, 1, 1]);
          return runner(() => jax.lax.conv(x.ref, w.ref, [s.P, s.P], "VALID").add(b.ref));
        }
        case "sequenceLogps": {
          const logits = arr(data(s.B * s.T * s.V, 1, 4), [s.B, s.T, s.V]);
          const next = arr(labels(s.B * (s.T - 1), s.V, 2), [s.B, s.T - 1, 1]);
          const f = (l: any) => {
            const [scored, last] = np.split(l, [s.T - 1], 1); // position t scores token t + 1
            last.dispose();
            return np.takeAlongAxis(nn.logSoftmax(scored, -1), next.ref, -1).sum();
          };
          const vg = jax.valueAndGrad(f);
          return runner(() => vg(logits.ref));
        }
      }
    },
    release() {
      jax.tree.dispose(made);
      made = [];
    },
  };
}

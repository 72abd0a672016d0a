/** anchorgrad itself, on cpu or webgpu. */
import * as ag from "../../src/index.js";
import { data, labels, type Case } from "../cases.js";
import { errorText, type Impl } from "../impl.js";

type T = ag.Tensor;

/** Causal scaled dot-product attention, the composite a model would write. */
export function attention(q: T, k: T, v: T, mask: T): T {
  const D = q.shape[q.ndim - 1]!;
  const scores = ag.mul(ag.matmul(q, k, { transposeB: true }), 1 / Math.sqrt(D));
  return ag.matmul(ag.softmax(ag.where(mask, scores, -Infinity), -1), v);
}

export function causalMask(T: number, device: string): T {
  const i = ag.arange(T, { dtype: "int32", device });
  return ag.greaterEqual(ag.reshape(i, [T, 1]), ag.reshape(i, [1, T]));
}

export function anchorgrad(backend: "cpu" | "webgpu"): Impl {
  let made: T[] = [];
  const t = (values: Float32Array, shape: number[]) => {
    const x = ag.tensor(values, { shape, dtype: "float32", device: backend });
    made.push(x);
    return x;
  };
  /** Run fn in a scope; on webgpu read one output back so the GPU work is inside the timing. */
  const runner = (fn: () => unknown) => async () => {
    const out = ag.scope(fn);
    const leaves = ag.treeLeaves(out as ag.PyTree) as T[];
    if (backend === "webgpu") await leaves[0]!.data();
    for (const l of leaves) l.dispose();
  };
  return {
    impl: "anchorgrad",
    backend,
    async init() {
      if (backend === "cpu") return null;
      const status = (await ag.backends()).find((b) => b.name === backend);
      if (!status) return `no "${backend}" backend registered`;
      if (!status.available) return status.reason ?? "not available";
      try {
        await ag.useBackend(backend);
        await ag.useBackend("cpu");
        return null;
      } catch (e) {
        return errorText(e);
      }
    },
    async prepare(c: Case) {
      const s = c.spec;
      switch (s.kind) {
        case "matmul": {
          const a = t(data(s.n * s.n, 1), [s.n, s.n]),
            b = t(data(s.n * s.n, 2), [s.n, s.n]);
          return runner(() => ag.matmul(a, b));
        }
        case "bmm": {
          const a = t(data(s.b * s.m * s.k, 1), [s.b, s.m, s.k]),
            b = t(data(s.b * s.k * s.n, 2), [s.b, s.k, s.n]);
          return runner(() => ag.matmul(a, b));
        }
        case "softmax": {
          const x = t(data(s.rows * s.cols, 1, 4), [s.rows, s.cols]);
          return runner(() => ag.softmax(x, -1));
        }
        case "layerNorm": {
          const x = t(data(s.rows * s.cols, 1, 4), [s.rows, s.cols]),
            w = t(data(s.cols, 2), [s.cols]),
            b = t(data(s.cols, 3), [s.cols]);
          return runner(() => ag.layerNorm(x, w, b, 1e-5));
        }
        case "attention": {
          const n = s.H * s.T * s.D,
            shape = [s.H, s.T, s.D];
          const p = { q: t(data(n, 1), shape), k: t(data(n, 2), shape), v: t(data(n, 3), shape) };
          const mask = causalMask(s.T, backend);
          made.push(mask);
          const vg = ag.valueAndGrad((x: typeof p) => ag.sum(attention(x.q, x.k, x.v, mask)));
          return runner(() => vg(p));
        }
        case "conv": {
          const x = t(data(s.N * s.C * s.HW * s.HW, 1), [s.N, s.C, s.HW, s.HW]),
            w = t(data(s.O * s.C * s.P * s.P, 2, 0.1), [s.O, s.C, s.P, s.P]),
            b = t(data(s.O, 3), [s.O]);
          return runner(() => ag.conv2d(x, w, { bias: b, stride: s.P }));
        }
        case "sequenceLogps": {
          const logits = t(data(s.B * s.T * s.V, 1, 4), [s.B, s.T, s.V]);
          const ids = ag.tensor(labels(s.B * s.T, s.V, 2), { shape: [s.B, s.T], dtype: "int32", device: backend });
          const mask = ag.ones([s.B, s.T], { dtype: "float32", device: backend });
          made.push(ids, mask);
          const vg = ag.valueAndGrad((l: T) => ag.sum(ag.sequenceLogps(l, ids, mask).sum));
          return runner(() => vg(logits));
        }
      }
    },
    release() {
      for (const x of made) x.dispose();
      made = [];
    },
  };
}

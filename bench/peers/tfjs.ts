/**
 * TensorFlow.js 4.22 on its Wasm backend (XNNPACK kernels, SIMD; threads
 * need the browser's workers, so one thread under Node). Attention's
 * backward uses tf.valueAndGrads; tfjs has no take-along-axis with a gradient, so
 * sequenceLogps is not expressible there.
 */
import { data, type Case } from "../cases.js";
import { errorText, type Impl } from "../impl.js";

/* eslint-disable @typescript-eslint/no-explicit-any */
export function tfjs(): Impl {
  let tf: any;
  let made: any[] = [];
  const t = (values: Float32Array, shape: number[]) => {
    const x = tf.tensor(values, shape, "float32");
    made.push(x);
    return x;
  };
  const runner = (fn: () => any) => async () => {
    const out = tf.tidy(fn);
    const list = Array.isArray(out) ? out : [out];
    list[0].dataSync();
    tf.dispose(list);
  };
  return {
    impl: "tfjs",
    backend: "cpu",
    async init() {
      try {
        tf = await import("@tensorflow/tfjs-core");
        await import("@tensorflow/tfjs-backend-wasm");
        if (!(await tf.setBackend("wasm"))) return 'tf.setBackend("wasm") failed';
        await tf.ready();
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
          return runner(() => tf.matMul(a, b));
        }
        case "bmm": {
          const a = t(data(s.b * s.m * s.k, 1), [s.b, s.m, s.k]),
            b = t(data(s.b * s.k * s.n, 2), [s.b, s.k, s.n]);
          return runner(() => tf.matMul(a, b));
        }
        case "softmax": {
          const x = t(data(s.rows * s.cols, 1, 4), [s.rows, s.cols]);
          return runner(() => tf.softmax(x, -1));
        }
        case "layerNorm": {
          const x = t(data(s.rows * s.cols, 1, 4), [s.rows, s.cols]),
            w = t(data(s.cols, 2), [s.cols]),
            b = t(data(s.cols, 3), [s.cols]);
          return runner(() => {
            const { mean, variance } = tf.moments(x, -1, true);
            return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), w), b);
          });
        }
        case "attention": {
          const n = s.H * s.T * s.D,
            shape = [s.H, s.T, s.D];
          const q = t(data(n, 1), shape),
            k = t(data(n, 2), shape),
            v = t(data(n, 3), shape);
          const mask = tf.linalg.bandPart(tf.ones([s.T, s.T], "bool"), -1, 0);
          made.push(mask);
          const negInf = tf.fill([s.T, s.T], -Infinity);
          made.push(negInf);
          const f = (qq: any, kk: any, vv: any) => {
            const scores = tf.mul(tf.matMul(qq, kk, false, true), 1 / Math.sqrt(s.D));
            return tf.sum(tf.matMul(tf.softmax(tf.where(mask, scores, negInf), -1), vv));
          };
          const vg = tf.valueAndGrads(f);
          return runner(() => {
            const { value, grads } = vg([q, k, v]);
            return [value, ...grads];
          });
        }
        case "conv": {
          // tfjs convolves NHWC with HWIO filters; the data is laid out that way up front
          const x = t(data(s.N * s.C * s.HW * s.HW, 1), [s.N, s.HW, s.HW, s.C]),
            w = t(data(s.O * s.C * s.P * s.P, 2, 0.1), [s.P, s.P, s.C, s.O]),
            b = t(data(s.O, 3), [s.O]);
          return runner(() => tf.add(tf.conv2d(x, w, s.P, "valid"), b));
        }
        case "sequenceLogps":
          return "tfjs has no gather-along-axis with a gradient";
      }
    },
    release() {
      tf.dispose(made);
      made = [];
    },
  };
}

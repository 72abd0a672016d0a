/** Neural-network composites, written with primitives so every order of gradient works (the fused row ops are in rows.ts). */
import { ShapeError } from "../tensor/errors.js";
import { fmt } from "../tensor/shape.js";
import { fromStorage } from "./create.js";
import type { Tensor } from "../tensor/tensor.js";
import { add, erfOp, exp, greater, less, log1p, mul, neg, sigmoid, tanh, where, type TensorLike } from "./elementwise.js";
import { gather } from "./indexing.js";
import { matmul } from "./linalg.js";
import { pad, reshape, transpose } from "./shape.js";

export const relu = (x: Tensor): Tensor => where(greater(x, 0), x, 0);

/**
 * log(1 + e^x) without overflow, as two branches that are each smooth:
 * x + log1p(e^-x) for x > 0, log1p(e^x) otherwise. Each branch only sees
 * inputs where its exp cannot overflow, so the unused one adds no NaN to the
 * gradient; and unlike max(x, 0) + log1p(e^-|x|), whose kinks cancel in value
 * but not in autodiff, every derivative is right at x = 0 (σ'(0) = 1/4).
 */
export function softplus(x: Tensor): Tensor {
  const positive = greater(x, 0);
  const xp = where(positive, x, 0),
    xn = where(positive, 0, x);
  return where(positive, add(xp, log1p(exp(neg(xp)))), log1p(exp(xn)));
}

/** log σ(x) = -softplus(-x). */
export const logSigmoid = (x: Tensor): Tensor => neg(softplus(neg(x)));

export const silu = (x: Tensor): Tensor => mul(x, sigmoid(x));

/** GELU: exact erf form by default, or the tanh approximation. */
export function gelu(x: Tensor, opts: { approximate?: "none" | "tanh" } = {}): Tensor {
  if (opts.approximate === "tanh") {
    const inner = mul(add(x, mul(mul(mul(x, x), x), 0.044715)), Math.sqrt(2 / Math.PI));
    return mul(mul(x, 0.5), add(tanh(inner), 1));
  }
  return mul(mul(x, 0.5), add(erfOp(mul(x, Math.SQRT1_2)), 1));
}

/** Clamp into [lo, hi]; the gradient passes where lo <= x <= hi, as in PyTorch. */
export function clip(x: Tensor, lo: TensorLike, hi: TensorLike): Tensor {
  return where(less(x, lo), lo, where(greater(x, hi), hi, x));
}

export interface Conv2dOptions {
  bias?: Tensor | null;
  stride?: number | [number, number];
  padding?: number | [number, number];
}

const pair = (v: number | [number, number] | undefined, dflt: number): [number, number] =>
  v === undefined ? [dflt, dflt] : typeof v === "number" ? [v, v] : v;

/**
 * 2-D convolution (cross-correlation), NCHW input, OIHW weight. Lowered to
 * im2col by gather + matmul, or to a plain reshape when patches tile the
 * image (the ViT patch embedding), so its gradients are those of its parts.
 */
export function conv2d(x: Tensor, w: Tensor, opts: Conv2dOptions = {}): Tensor {
  if (x.ndim !== 4 || w.ndim !== 4)
    throw new ShapeError(`conv2d: expected x [N, C, H, W] and w [O, C, KH, KW], got ${fmt(x.shape)} and ${fmt(w.shape)}`);
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [O, Cw, KH, KW] = w.shape as [number, number, number, number];
  const [sh, sw] = pair(opts.stride, 1),
    [ph, pw] = pair(opts.padding, 0);
  if (C !== Cw) throw new ShapeError(`conv2d: input has ${C} channels but weight ${fmt(w.shape)} expects ${Cw}`);
  if (opts.bias && (opts.bias.ndim !== 1 || opts.bias.shape[0] !== O))
    throw new ShapeError(`conv2d: bias ${fmt(opts.bias.shape)} does not match the ${O} output channels of weight ${fmt(w.shape)}`);
  const Hp = H + 2 * ph,
    Wp = W + 2 * pw;
  const OH = Math.floor((Hp - KH) / sh) + 1,
    OW = Math.floor((Wp - KW) / sw) + 1;
  if (OH <= 0 || OW <= 0 || sh < 1 || sw < 1)
    throw new ShapeError(`conv2d: kernel ${KH}x${KW} with stride ${sh}x${sw} does not fit input ${fmt(x.shape)} padded by ${ph}x${pw}`);
  let cols: Tensor; // [N, OH*OW, C*KH*KW]
  if (sh === KH && sw === KW && ph === 0 && pw === 0 && H === OH * KH && W === OW * KW) {
    const r = reshape(x, [N, C, OH, KH, OW, KW]);
    cols = reshape(transpose(r, [0, 2, 4, 1, 3, 5]), [N, OH * OW, C * KH * KW]);
  } else {
    const xp = reshape(
      pad(x, [
        [0, 0],
        [0, 0],
        [ph, ph],
        [pw, pw],
      ]),
      [N, C, Hp * Wp],
    );
    const idx = new Int32Array(OH * OW * KH * KW);
    let k = 0;
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++) {
        for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) idx[k++] = (oh * sh + kh) * Wp + ow * sw + kw;
      }
    const patches = gather(xp, fromStorage(idx, [OH * OW, KH * KW], "int32", x.device), 2); // [N, C, OH*OW, KH*KW]
    cols = reshape(transpose(patches, [0, 2, 1, 3]), [N, OH * OW, C * KH * KW]);
  }
  let y = matmul(reshape(w, [O, C * KH * KW]), cols, { transposeB: true }); // [N, O, OH*OW]
  if (opts.bias) y = add(y, reshape(opts.bias, [O, 1]));
  return reshape(y, [N, O, OH, OW]);
}

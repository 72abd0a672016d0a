/**
 * Bicubic resampling of 8-bit images, matching Pillow's `Image.resize(size,
 * BICUBIC)` bit for bit, which is what InternVL's preprocessing runs.
 *
 * The algorithm (a separable convolution): each output pixel x' samples the
 * input around its centre c = (x' + 0.5)·scale, scale = in/out, with the
 * Keys cubic kernel (a = -0.5) stretched by max(scale, 1) so downscaling
 * also low-pass filters. Weights are normalised to sum 1 and then quantised
 * to fixed point with 22 fractional bits; each pass accumulates integers,
 * rounds, and clips to 0..255. The horizontal pass runs first, then the
 * vertical one on its 8-bit result; an axis whose size does not change is
 * not resampled at all.
 *
 * libvips (sharp's resize) places output pixels differently when enlarging,
 * up to half an input pixel apart from Pillow, hence this module.
 */

const PRECISION_BITS = 22;
const SUPPORT = 2;

/** The Keys cubic convolution kernel with a = -0.5. */
function cubic(x: number): number {
  const a = -0.5;
  x = Math.abs(x);
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

interface Taps {
  /** First input index of each output's window. */
  start: Int32Array;
  /** Window length of each output. */
  count: Int32Array;
  /** Fixed-point weights, `width` per output. */
  weights: Int32Array;
  width: number;
}

/** The fixed-point weights taking `inSize` samples to `outSize`. */
function taps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const stretch = Math.max(scale, 1);
  const support = SUPPORT * stretch;
  const shrink = 1 / stretch; // multiplied, not divided by stretch, to round as Pillow does
  const width = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize),
    count = new Int32Array(outSize),
    weights = new Int32Array(outSize * width);
  const w = new Float64Array(width);
  for (let o = 0; o < outSize; o++) {
    const centre = (o + 0.5) * scale;
    const lo = Math.max(Math.trunc(centre - support + 0.5), 0);
    const n = Math.min(Math.trunc(centre + support + 0.5), inSize) - lo;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      w[i] = cubic((i + lo - centre + 0.5) * shrink);
      sum += w[i]!;
    }
    for (let i = 0; i < n; i++) {
      const v = sum !== 0 ? w[i]! / sum : w[i]!;
      weights[o * width + i] = Math.trunc(v < 0 ? v * (1 << PRECISION_BITS) - 0.5 : v * (1 << PRECISION_BITS) + 0.5);
    }
    start[o] = lo;
    count[o] = n;
  }
  return { start, count, weights, width };
}

const clip8 = (acc: number): number => {
  const v = acc >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
};

/**
 * Resample interleaved 8-bit pixels (`channels` per pixel) from
 * inW × inH to outW × outH.
 */
export function resampleBicubic(src: Uint8Array, inW: number, inH: number, channels: number, outW: number, outH: number): Uint8Array {
  let data = src,
    w = inW;
  if (outW !== inW) {
    const t = taps(inW, outW);
    const out = new Uint8Array(outW * inH * channels);
    for (let y = 0; y < inH; y++) {
      const row = y * inW * channels;
      for (let o = 0; o < outW; o++) {
        const lo = t.start[o]!,
          n = t.count[o]!,
          k = o * t.width;
        for (let c = 0; c < channels; c++) {
          let acc = 1 << (PRECISION_BITS - 1);
          for (let i = 0; i < n; i++) acc += data[row + (lo + i) * channels + c]! * t.weights[k + i]!;
          out[(y * outW + o) * channels + c] = clip8(acc);
        }
      }
    }
    data = out;
    w = outW;
  }
  if (outH !== inH) {
    const t = taps(inH, outH);
    const out = new Uint8Array(w * outH * channels);
    const stride = w * channels;
    for (let o = 0; o < outH; o++) {
      const lo = t.start[o]!,
        n = t.count[o]!,
        k = o * t.width;
      for (let x = 0; x < stride; x++) {
        let acc = 1 << (PRECISION_BITS - 1);
        for (let i = 0; i < n; i++) acc += data[(lo + i) * stride + x]! * t.weights[k + i]!;
        out[o * stride + x] = clip8(acc);
      }
    }
    data = out;
  }
  return data === src ? src.slice() : data;
}

/**
 * Data movement: reshape, transpose, broadcastTo, slice, pad and concat are
 * all one strided copy (`copyRegion`) with different strides and offsets.
 * Elements move as 32-bit words, so one shader serves every 32-bit dtype;
 * regions that collapse to one contiguous run become a buffer copy.
 */
import { AnchorError } from "../../../tensor/errors.js";
import { broadcastStrides, collapse, type Shape, sizeOf, stridesOf } from "../../../tensor/shape.js";
import type { GpuBuffer, Runtime } from "../runtime.js";
import { MULHI_FN, divParams, offsetCode } from "../strides.js";
import { decl, deviceBytes, entryLoop, isPacked16, loopGroups, paramsDecl } from "../wgsl.js";
import type { GpuKernel, GpuRef } from "./types.js";

const WG = 256;

interface View {
  buf: GpuBuffer;
  base: number;
  strides: readonly number[];
}

/** dst[dst.base + m·dst.strides] = src[src.base + m·src.strides] for every multi-index m of `shape`. */
export function copyRegion(rt: Runtime, name: string, shape: Shape, src: View, dst: View): void {
  const n = sizeOf(shape);
  if (n === 0) return;
  const c = collapse(shape, [src.strides, dst.strides]);
  const rank = c.shape.length;
  if (rank === 0 || (rank === 1 && c.strides[0]![0] === 1 && c.strides[1]![0] === 1)) {
    rt.copy(src.buf.buffer, src.base * 4, dst.buf.buffer, dst.base * 4, n * 4);
    return;
  }
  const params = [n, src.base, dst.base, ...c.shape, ...c.strides[0]!, ...c.strides[1]!, ...divParams(c.shape)];
  rt.dispatch({
    name,
    key: `copy:${rank}`,
    wgsl: () =>
      [
        decl(0, "Src", "u32", "read"),
        decl(1, "Dst", "u32", "read_write"),
        paramsDecl(2, params.length),
        MULHI_FN,
        entryLoop(
          WG,
          "p(0u)",
          `${offsetCode("idx", rank, 3, ["s", "d"], [3 + rank, 3 + 2 * rank], 3 + 3 * rank)}
  Dst[p(2u) + d] = Src[p(1u) + s];`,
        ),
      ].join("\n"),
    bindings: [
      { buf: src.buf.buffer, access: "read" },
      { buf: dst.buf.buffer, access: "read_write" },
    ],
    params,
    workgroups: loopGroups(n, WG),
  });
}

function output(rt: Runtime, name: string, x: GpuRef, shape: Shape): GpuBuffer {
  if (isPacked16(x.dtype))
    throw new AnchorError(
      `webgpu: ${name} got ${x.dtype} storage; the core computes half formats in float32, so this is a bug in the caller`,
    );
  return rt.alloc(deviceBytes(x.dtype, sizeOf(shape), name), `the output of ${name}`);
}

const contiguous = (buf: GpuBuffer, shape: Shape): View => ({ buf, base: 0, strides: stridesOf(shape) });

export const reshape: GpuKernel<"reshape"> = (rt, [x], _p, out) => {
  const o = output(rt, "reshape", x!, out.shape);
  rt.copy(x!.buf.buffer, 0, o.buffer, 0, sizeOf(out.shape) * 4);
  return o;
};

export const transpose: GpuKernel<"transpose"> = (rt, [x], { perm }, out) => {
  const o = output(rt, "transpose", x!, out.shape);
  const st = stridesOf(x!.shape);
  copyRegion(rt, "transpose", out.shape, { buf: x!.buf, base: 0, strides: perm.map((p) => st[p]!) }, contiguous(o, out.shape));
  return o;
};

export const broadcastTo: GpuKernel<"broadcastTo"> = (rt, [x], _p, out) => {
  const o = output(rt, "broadcastTo", x!, out.shape);
  copyRegion(
    rt,
    "broadcastTo",
    out.shape,
    { buf: x!.buf, base: 0, strides: broadcastStrides(x!.shape, out.shape) },
    contiguous(o, out.shape),
  );
  return o;
};

export const slice: GpuKernel<"slice"> = (rt, [x], { starts }, out) => {
  const o = output(rt, "slice", x!, out.shape);
  const st = stridesOf(x!.shape);
  const base = starts.reduce((b, s, i) => b + s * st[i]!, 0);
  copyRegion(rt, "slice", out.shape, { buf: x!.buf, base, strides: st }, contiguous(o, out.shape));
  return o;
};

export const pad: GpuKernel<"pad"> = (rt, [x], { widths }, out) => {
  const o = output(rt, "pad", x!, out.shape);
  const st = stridesOf(out.shape);
  rt.clear(o.buffer, 0, sizeOf(out.shape) * 4);
  const base = widths.reduce((b, w, i) => b + w[0] * st[i]!, 0);
  copyRegion(rt, "pad", x!.shape, contiguous(x!.buf, x!.shape), { buf: o, base, strides: st });
  return o;
};

export const concat: GpuKernel<"concat"> = (rt, xs, { axis }, out) => {
  const o = output(rt, "concat", xs[0]!, out.shape);
  const st = stridesOf(out.shape);
  let off = 0;
  for (const x of xs) {
    copyRegion(rt, "concat", x.shape, contiguous(x.buf, x.shape), { buf: o, base: off * st[axis]!, strides: st });
    off += x.shape[axis]!;
  }
  return o;
};

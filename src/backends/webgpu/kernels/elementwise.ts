/**
 * Elementwise kernels built from the op rows of src/ops/elementwise.ts (each
 * row's `wgsl` expression is the whole per-element definition), plus where
 * and cast. Operands are read in one of three ways, chosen per call and part
 * of the shader key: same shape as the output (flat index), a single element,
 * or strided with broadcasting (index decomposed over the collapsed shape).
 */
import type { BinaryName, BinaryRow, UnaryName, UnaryRow } from "../../../prims/index.js";
import { broadcastStrides, collapse, sameShape, sizeOf } from "../../../tensor/shape.js";
import type { OutSpec } from "../../backend.js";
import type { GpuBuffer } from "../runtime.js";
import { MULHI_FN, divParams, offsetCode } from "../strides.js";
import { PRELUDE, decl, deviceBytes, entryLoop, loopGroups, paramsDecl, storageType } from "../wgsl.js";
import type { GpuKernel, GpuRef } from "./types.js";

const WG = 256;

type Mode = "same" | "one" | "strided";

/**
 * Read `inputs` broadcast to `out`: returns per-input offset expressions, the
 * WGSL that computes them, the params words, and a key fragment.
 */
function operandAccess(inputs: readonly GpuRef[], out: OutSpec) {
  const modes: Mode[] = inputs.map((x) => (sameShape(x.shape, out.shape) ? "same" : sizeOf(x.shape) === 1 ? "one" : "strided"));
  const stridedIdx = inputs.flatMap((_, i) => (modes[i] === "strided" ? [i] : []));
  const n = sizeOf(out.shape);
  const params = [n];
  let code = "";
  let rank = 0;
  if (stridedIdx.length) {
    const c = collapse(
      out.shape,
      stridedIdx.map((i) => broadcastStrides(inputs[i]!.shape, out.shape)),
    );
    rank = c.shape.length;
    params.push(...c.shape);
    const at = stridedIdx.map((_, j) => 1 + rank * (j + 1));
    for (const s of c.strides) params.push(...s);
    const magicAt = params.length;
    params.push(...divParams(c.shape));
    code = offsetCode(
      "idx",
      rank,
      1,
      stridedIdx.map((i) => `o${i}`),
      at,
      magicAt,
    );
  }
  const offsets = modes.map((m, i) => (m === "same" ? "idx" : m === "one" ? "0u" : `o${i}`));
  return { params, code, offsets, key: `${modes.join(",")}:${rank}` };
}

/** A kernel evaluating `expr` over inputs named `names` (WGSL storage types from their dtypes). */
function mapKernel(
  name: string,
  names: readonly string[],
  expr: (types: string[]) => string,
  outType: (types: string[]) => string,
): GpuKernel<UnaryName | BinaryName | "where"> {
  return (rt, inputs, _p, out) => {
    const types = inputs.map((x) => storageType(x.dtype, name));
    const ot = outType(types);
    const o = rt.alloc(deviceBytes(out.dtype, sizeOf(out.shape), name), `the output of ${name}`);
    const acc = operandAccess(inputs, out);
    const e = expr(types);
    rt.dispatch({
      name,
      key: `map:${name}:${types.join(",")}:${acc.key}`,
      wgsl: () =>
        [
          ...names.map((v, i) => decl(i, `In${i}`, types[i]!, "read")),
          decl(names.length, "Out", ot, "read_write"),
          paramsDecl(names.length + 1, acc.params.length),
          PRELUDE,
          MULHI_FN,
          entryLoop(
            WG,
            "p(0u)",
            `${acc.code}
${names.map((v, i) => `  let ${v} = In${i}[${acc.offsets[i]}];`).join("\n")}
  Out[idx] = ${e};`,
          ),
        ].join("\n"),
      bindings: [
        ...inputs.map((x) => ({ buf: (x.buf as GpuBuffer).buffer, access: "read" as const })),
        { buf: o.buffer, access: "read_write" },
      ],
      params: acc.params,
      workgroups: loopGroups(sizeOf(out.shape), WG),
    });
    return o;
  };
}

export function unaryKernel(row: UnaryRow): GpuKernel<UnaryName> {
  return mapKernel(
    row.name,
    ["x"],
    () => row.wgsl,
    ([t]) => t!,
  );
}

export function binaryKernel(row: BinaryRow): GpuKernel<BinaryName> {
  return row.compare
    ? mapKernel(
        row.name,
        ["a", "b"],
        () => `select(0u, 1u, ${row.wgsl})`,
        () => "u32",
      )
    : mapKernel(
        row.name,
        ["a", "b"],
        () => row.wgsl,
        ([t]) => t!,
      );
}

export const where: GpuKernel<"where"> = mapKernel(
  "where",
  ["c", "a", "b"],
  () => "select(b, a, c != 0u)",
  ([, t]) => t!,
);

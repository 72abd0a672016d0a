/**
 * Python source from the graphs of one function traced at several batch
 * sizes (./symbolic.ts says how sizes become expressions of B). The graphs
 * must be the same program: the same primitives on the same variables, with
 * numbers that differ only where they depend on B.
 */
import type { Graph, Var } from "../../ir/graph.js";
import { ExportError, indexPattern, pyInt, TRACE_SIZES, unifyInt, unifyParams, unifyScalar } from "./symbolic.js";
import { pyDtype, TORCH } from "./prims.js";

/** A graph input as the Python function receives it. */
export interface PyInput {
  /** The Python expression holding the caller's tensor (a parameter, or extra["..."]). */
  readonly expr: string;
  /** The name shown in errors (the keyword argument). */
  readonly name: string;
}

const varName = (v: Var) => `v${v.id}`;

/** Python float literal (shortest round-trip text; both languages parse it to the same double). */
export function pyFloat(v: number): string {
  if (Number.isNaN(v)) return 'float("nan")';
  if (!Number.isFinite(v)) return v > 0 ? 'float("inf")' : '-float("inf")';
  const s = String(v);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

function checkSameProgram(graphs: readonly Graph[]): void {
  const [g0] = graphs;
  const sig = (g: Graph) =>
    [
      g.inputs.map((v) => `${v.id}:${v.dtype}`).join(" "),
      g.consts.map((c) => `${c.v.id}:${c.v.dtype}`).join(" "),
      ...g.eqns.map((e) => `${e.out.id}:${e.out.dtype}=${e.prim.name}(${e.inputs.map((v) => v.id).join(",")})`),
      g.outputs.map((v) => v.id).join(" "),
    ].join("\n");
  const s0 = sig(g0!);
  graphs.forEach((g, k) => {
    if (sig(g) === s0) return;
    const a = s0.split("\n"),
      b = sig(g).split("\n");
    const i = a.findIndex((line, j) => line !== b[j]);
    throw new ExportError(
      `exportTorch: the objective traces to a different program at batch size ${TRACE_SIZES[k]} than at ${TRACE_SIZES[0]} (first difference: "${a[i] ?? "(end)"}" vs "${b[i] ?? "(end)"}"); a batch-size polymorphic export needs the same primitives at every size`,
    );
  });
}

/** Constant tensors as Python statements (literals, B expressions or index patterns). */
function emitConsts(graphs: readonly Graph[]): string[] {
  return graphs[0]!.consts.map((c, k) => {
    const at = graphs.map((g) => g.consts[k]!.value);
    const where = `a ${c.v.dtype} constant [${c.v.shape.join(", ")}]`;
    const dtype = pyDtype(c.v.dtype);
    const data = at.map((t) => Array.from(t.dataSync(), Number));
    const name = varName(c.v);
    if (c.v.shape.length === 0) {
      const value = unifyScalar(
        data.map((d) => d[0]!),
        where,
        (v) => (c.v.dtype === "bool" ? (v ? "True" : "False") : pyFloat(v)),
      );
      return `${name} = torch.tensor(${value}, dtype=${dtype}, device=dev)`;
    }
    const shape = unifyParams(
      at.map((t) => [...t.shape]),
      `the shape of ${where}`,
    ) as number[];
    const shapeText = `(${shape.map(pyInt).join(", ")}${shape.length === 1 ? "," : ""})`;
    const same = data.every((d) => d.length === data[0]!.length && d.every((x, i) => Object.is(x, data[0]![i])));
    if (same) {
      const flat = data[0]!.map((v) => (c.v.dtype === "bool" ? (v ? "True" : "False") : pyFloat(v))).join(", ");
      return `${name} = torch.tensor([${flat}], dtype=${dtype}, device=dev).reshape(${shapeText})`;
    }
    const pattern = indexPattern(
      at.map((t, i) => ({ shape: t.shape, data: data[i]! })),
      where,
    );
    const grids =
      shape.length === 1
        ? `_i0 = torch.arange(${pyInt(shape[0]!)}, device=dev)`
        : `_i0 = torch.arange(${pyInt(shape[0]!)}, device=dev).reshape(-1, 1); _i1 = torch.arange(${pyInt(shape[1]!)}, device=dev).reshape(1, -1)`;
    return `${grids}; ${name} = torch.broadcast_to(${pattern}, ${shapeText}).to(${dtype})`;
  });
}

/**
 * The body of the Python function: read inputs (cast to the caller's float
 * dtype `dt`, each checked to be [B]), constants, one line per equation, and
 * the outputs as Python expressions in order.
 */
export function emitBody(graphs: readonly Graph[], inputs: readonly PyInput[]): { lines: string[]; outputs: string[] } {
  checkSameProgram(graphs);
  const g = graphs[0]!;
  const used = new Set<number>([...g.eqns.flatMap((e) => e.inputs.map((v) => v.id)), ...g.outputs.map((v) => v.id)]);
  const lines: string[] = [];
  g.inputs.forEach((v, i) => {
    if (!used.has(v.id)) return;
    const { expr, name } = inputs[i]!;
    unifyInt(
      graphs.map((h) => h.inputs[i]!.shape.length),
      `the rank of ${name}`,
    );
    lines.push(`${varName(v)} = _ag_input(${JSON.stringify(name)}, ${expr}, ${pyDtype(v.dtype)}, B)`);
  });
  lines.push(...emitConsts(graphs));
  g.eqns.forEach((e, k) => {
    const emit = TORCH[e.prim.name];
    if (!emit) {
      throw new ExportError(
        `exportTorch: the primitive "${e.prim.name}" has no torch mapping (equation ${k}: ${varName(e.out)} = ${e.prim.name}(${e.inputs.map(varName).join(", ")})); add one in src/objectives/torch/prims.ts or write the objective with other ops`,
      );
    }
    const params = unifyParams(
      graphs.map((h) => h.eqns[k]!.params),
      `the parameters of ${e.prim.name} (equation ${k})`,
    );
    lines.push(`${varName(e.out)} = ${emit(e.inputs.map(varName), params ?? {})}`);
  });
  return { lines, outputs: g.outputs.map(varName) };
}

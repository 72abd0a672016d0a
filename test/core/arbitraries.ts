/**
 * fast-check arbitraries for op inputs: shapes (scalars, size-1 axes,
 * broadcast-compatible groups), axis arguments (negative ones included) and
 * values drawn from domains that keep away from kinks and poles.
 *
 * Inputs are plain data (InputSpec), not tensors, so one drawn case can be
 * materialised in any float dtype on any backend (see op-table.ts).
 */
import fc from "fast-check";

/** "float" inputs take the dtype of the run (float64 here, float32 on a GPU). */
export type InputKind = "float" | "int32" | "bool";

export interface InputSpec {
  readonly kind: InputKind;
  readonly shape: readonly number[];
  readonly data: readonly number[];
}

export type Shape = number[];

/**
 * Where float values are drawn from.
 * - interval: any double in [lo, hi];
 * - away: |x| in [lo, hi] with either sign (keeps off a kink or pole at 0);
 * - grid: offset + k·step for integer k with lo <= value <= hi. With
 *   `distinct`, no two values of the draw coincide (no ties for max, sort,
 *   maximum); without it, ties are frequent (comparisons, tie rules).
 * - float32: doubles exactly representable in float32 (conversions that
 *   reference implementations perform through float32).
 */
export type Domain =
  | { readonly kind: "interval"; readonly lo: number; readonly hi: number }
  | { readonly kind: "away"; readonly lo: number; readonly hi: number }
  | {
      readonly kind: "grid";
      readonly lo: number;
      readonly hi: number;
      readonly step: number;
      readonly offset: number;
      readonly distinct: boolean;
    }
  | { readonly kind: "float32"; readonly lo: number; readonly hi: number };

export const interval = (lo: number, hi: number): Domain => ({ kind: "interval", lo, hi });
export const away = (lo: number, hi: number): Domain => ({ kind: "away", lo, hi });
export const grid = (lo: number, hi: number, step: number, o: { offset?: number; distinct?: boolean } = {}): Domain => ({
  kind: "grid",
  lo,
  hi,
  step,
  offset: o.offset ?? 0,
  distinct: o.distinct ?? false,
});
export const float32Values = (lo: number, hi: number): Domain => ({ kind: "float32", lo, hi });

const double = (lo: number, hi: number) => fc.double({ min: lo, max: hi, noNaN: true });
const exactly = <T>(n: number, item: fc.Arbitrary<T>) => fc.array(item, { minLength: n, maxLength: n });

/** `n` values from `domain`. */
export function values(domain: Domain, n: number): fc.Arbitrary<number[]> {
  switch (domain.kind) {
    case "interval":
      return exactly(n, double(domain.lo, domain.hi));
    case "away":
      return exactly(
        n,
        fc.tuple(double(domain.lo, domain.hi), fc.boolean()).map(([m, negative]) => (negative ? -m : m)),
      );
    case "float32":
      return exactly(n, fc.float({ min: Math.fround(domain.lo), max: Math.fround(domain.hi), noNaN: true }));
    case "grid": {
      const { lo, hi, step, offset } = domain;
      const k = fc.integer({ min: Math.ceil((lo - offset) / step), max: Math.floor((hi - offset) / step) });
      const ks = domain.distinct ? fc.uniqueArray(k, { minLength: n, maxLength: n }) : exactly(n, k);
      return ks.map((list) => list.map((j) => offset + j * step));
    }
  }
}

const sizeOf = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/**
 * Float inputs of the given shapes. One domain is drawn jointly (a distinct
 * grid is then distinct across all inputs); a list gives one per input.
 */
export function floatInputs(shapes: readonly Shape[], domains: Domain | readonly Domain[]): fc.Arbitrary<InputSpec[]> {
  const spec = (shape: Shape, data: number[]): InputSpec => ({ kind: "float", shape, data });
  if (Array.isArray(domains)) {
    return fc.tuple(...shapes.map((s, i) => values(domains[i]!, sizeOf(s)))).map((ds) => ds.map((d, i) => spec(shapes[i]!, d)));
  }
  const sizes = shapes.map(sizeOf);
  return values(
    domains as Domain,
    sizes.reduce((a, b) => a + b, 0),
  ).map((all) => {
    let off = 0;
    return shapes.map((s, i) => spec(s, all.slice(off, (off += sizes[i]!))));
  });
}

/** int32 values in [0, bound) (repeats allowed) of a given shape. */
export const indexInput = (shape: Shape, bound: number): fc.Arbitrary<InputSpec> =>
  exactly(sizeOf(shape), fc.integer({ min: 0, max: bound - 1 })).map((data) => ({ kind: "int32", shape, data }));

export const boolInput = (shape: Shape): fc.Arbitrary<InputSpec> =>
  exactly(sizeOf(shape), fc.boolean()).map((bs) => ({ kind: "bool", shape, data: bs.map(Number) }));

export interface ShapeOptions {
  minRank?: number;
  maxRank?: number;
  minDim?: number;
  maxDim?: number;
}

/** A shape; rank 0 is a scalar, and size-1 axes are as likely as any. */
export const shape = ({ minRank = 0, maxRank = 3, minDim = 1, maxDim = 3 }: ShapeOptions = {}): fc.Arbitrary<Shape> =>
  fc.array(fc.integer({ min: minDim, max: maxDim }), { minLength: minRank, maxLength: maxRank });

/** A shape that broadcasts to `out`: some leading axes dropped, some axes shrunk to 1. */
export const broadcastSource = (out: Shape): fc.Arbitrary<Shape> =>
  fc
    .record({ drop: fc.integer({ min: 0, max: out.length }), ones: exactly(out.length, fc.boolean()) })
    .map(({ drop, ones }) => out.map((d, i) => (ones[i] ? 1 : d)).slice(drop));

/** `n` shapes that broadcast together (NumPy rules), each either the full output shape or a source of it. */
export const broadcastable = (n: number, opts: ShapeOptions = {}): fc.Arbitrary<Shape[]> =>
  shape(opts).chain((out) => exactly(n, fc.oneof(fc.constant(out), broadcastSource(out))));

/** An axis of a tensor of rank `rank` (>= 1), negative half the time. */
export const axisOf = (rank: number): fc.Arbitrary<number> => fc.integer({ min: -rank, max: rank - 1 });

/**
 * A reduction axis argument: undefined (all axes), one axis, or a list of
 * distinct axes (each possibly negative, in any order). `allowEmpty` admits [].
 */
export function axesOf(rank: number, o: { allowAll?: boolean; allowEmpty?: boolean } = {}): fc.Arbitrary<number | number[] | undefined> {
  const all = [...Array(rank).keys()];
  const choices: fc.Arbitrary<number | number[] | undefined>[] = [];
  if (o.allowAll ?? true) choices.push(fc.constant(undefined));
  if (rank > 0) {
    choices.push(axisOf(rank));
    const list = fc
      .shuffledSubarray(all, { minLength: o.allowEmpty ? 0 : 1 })
      .chain((axes) => exactly(axes.length, fc.boolean()).map((neg) => axes.map((a, i) => (neg[i] ? a - rank : a))));
    choices.push(list);
  }
  return fc.oneof(...choices);
}

/** A tensor leaf of a drawn pytree (a class, so it cannot be mistaken for an object node). */
export class LeafSpec {
  constructor(readonly spec: InputSpec) {}
}

/**
 * Nested plain objects and arrays (up to a few levels) whose leaves are
 * tensors of any shape or static numbers.
 */
export function pytree(domain: Domain = interval(-2, 2)): fc.Arbitrary<unknown> {
  const keys = ["w", "b", "bias", "layers", "norm", "embed"];
  const { tree } = fc.letrec<{ tree: unknown; leaf: unknown; array: unknown[]; object: Record<string, unknown> }>((tie) => ({
    tree: fc.oneof({ depthSize: "small", withCrossShrink: true }, tie("leaf"), tie("array"), tie("object")),
    leaf: fc.oneof(
      {
        arbitrary: shape({ maxRank: 3 })
          .chain((s) => floatInputs([s], domain))
          .map(([spec]) => new LeafSpec(spec!)),
        weight: 4,
      },
      { arbitrary: fc.integer({ min: -3, max: 3 }), weight: 1 },
    ),
    array: fc.array(tie("tree"), { maxLength: 3 }),
    object: fc
      .uniqueArray(fc.constantFrom(...keys), { maxLength: 3 })
      .chain((ks) => fc.tuple(...ks.map(() => tie("tree"))).map((vs) => Object.fromEntries(ks.map((k, i) => [k, vs[i]])))),
  }));
  return tree;
}

/** Replace each LeafSpec of a drawn tree by `leaf(spec)`. */
export function buildTree<T>(tree: unknown, leaf: (s: InputSpec) => T): unknown {
  if (tree instanceof LeafSpec) return leaf(tree.spec);
  if (Array.isArray(tree)) return tree.map((t) => buildTree(t, leaf));
  if (tree && typeof tree === "object") return Object.fromEntries(Object.entries(tree).map(([k, v]) => [k, buildTree(v, leaf)]));
  return tree;
}

/**
 * The reverse sweep over a tape recorded by src/ir/trace.ts, applying each
 * node's VJP rule from the derivative table (src/ops/vjp.ts). Rules run on
 * the node's inputs unboxed one level: when those are themselves boxed by an
 * outer tape, the backward pass is recorded there (grad(grad(f))).
 */
import { nodeOf, type Node, type Tape } from "../ir/trace.js";
import { add } from "../ops/elementwise.js";
import { vjpRule } from "../ops/derivatives.js";
import type { Tensor } from "../tensor/tensor.js";

/**
 * Reverse sweep from `out` (boxed by `tape`) with cotangent `seed`.
 * Returns the cotangent of each leaf (undefined where no path reaches it).
 */
export function backward(tape: Tape, out: Tensor, seed: Tensor, leaves: readonly Node[]): (Tensor | undefined)[] {
  const start = nodeOf(out, tape);
  const cts = new Map<Node, Tensor>();
  if (start) cts.set(start, seed);
  tape.active = false; // the backward pass is recorded by outer tapes only
  try {
    for (let i = start ? start.id : -1; i >= 0; i--) {
      const node = tape.nodes[i]!;
      const g = cts.get(node);
      if (!g || !node.prim) continue;
      cts.delete(node);
      const grads = vjpRule(node.prim)(
        g,
        node.inputs,
        node.out,
        node.params,
        node.parents.map((p) => p !== null),
      );
      node.parents.forEach((p, k) => {
        const gk = grads[k];
        if (!p || !gk) return;
        const prev = cts.get(p);
        cts.set(p, prev ? add(prev, gk) : gk);
      });
    }
  } finally {
    tape.active = true;
  }
  return leaves.map((l) => cts.get(l));
}

/** Combining objectives: weighted sums with namespaced metrics, and the MPO recipe. */
import { stopGradient } from "../autograd/transforms.js";
import { add, mul } from "../ops/elementwise.js";
import { fmt } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { bcoPair, dpo } from "./dpo-family.js";
import type { NllReduction } from "./nll.js";
import { named } from "./objective.js";
import { sft } from "./reference-free.js";
import { ObjectiveError, type Objective } from "./types.js";

/** [objective, weight] or [objective, weight, name]; the name defaults to the objective's. */
export type WeightedTerm = readonly [Objective, number] | readonly [Objective, number, string];

/**
 * Σ_k w_k·loss_k. Each term's metrics appear as `<name>/<metric>`, plus
 * `<name>/loss` (its unweighted loss, detached); a name used twice gets a
 * suffix (`dpo`, `dpo#2`). Names come from the third element, else from the
 * objective (the built-in factories name theirs; a custom `const myLoss = ...`
 * is named `myLoss` by JavaScript), else `term<k>`.
 */
export function weighted(terms: readonly WeightedTerm[]): Objective {
  if (!Array.isArray(terms) || terms.length === 0)
    throw new ObjectiveError("weighted: expected a non-empty array of [objective, weight] pairs");
  const seen = new Map<string, number>();
  const parts = terms.map((term, k) => {
    const [objective, weight, label] = term as [Objective, number, string?];
    if (typeof objective !== "function") throw new ObjectiveError(`weighted: term ${k} is not an objective (got ${typeof objective})`);
    if (typeof weight !== "number" || !Number.isFinite(weight))
      throw new ObjectiveError(`weighted: weight of term ${k} must be a finite number, got ${String(weight)}`);
    const base = label ?? (objective.name || `term${k}`);
    const count = (seen.get(base) ?? 0) + 1;
    seen.set(base, count);
    return { objective, weight, name: count === 1 ? base : `${base}#${count}` };
  });
  return named("weighted", (batch) => {
    let loss: Tensor | null = null;
    const metrics: Record<string, Tensor> = {};
    for (const { objective, weight, name } of parts) {
      const r = objective(batch);
      if (!(r?.loss instanceof Tensor) || r.loss.size !== 1) {
        throw new ObjectiveError(
          `weighted: term "${name}" must return { loss: scalar Tensor, metrics }, got loss ${r?.loss instanceof Tensor ? fmt(r.loss.shape) : String(r?.loss)}`,
        );
      }
      const part = mul(r.loss, weight);
      loss = loss ? add(loss, part) : part;
      metrics[`${name}/loss`] = stopGradient(r.loss);
      for (const [key, value] of Object.entries(r.metrics ?? {})) metrics[`${name}/${key}`] = value;
    }
    return { loss: loss!, metrics };
  });
}

/**
 * InternVL's MPO: 0.8·dpo + 0.2·bcoPair + 1·sft, with a shared β and sft's
 * nllReduction; `weights` (a batch column) weights the pairs of every term.
 */
export function mpo(opts: { beta?: number; nllReduction?: NllReduction; weights?: string } = {}): Objective {
  const w = opts.weights === undefined ? {} : { weights: opts.weights };
  return named(
    "mpo",
    weighted([
      [dpo({ beta: opts.beta, ...w }), 0.8],
      [bcoPair({ beta: opts.beta, ...w }), 0.2],
      [sft({ nllReduction: opts.nllReduction, ...w }), 1],
    ]),
  );
}

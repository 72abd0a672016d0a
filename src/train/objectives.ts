/**
 * Objectives by name, for configs: { "name": "acpo", "beta": 0.1, "delta": 0.01 }
 * or a weighted sum { "name": "weighted", "terms": [[{ "name": "dpo" }, 0.8], [{ "name": "sft" }, 1]] }.
 */
import * as objectives from "../objectives/index.js";
import type { TrlConfig } from "../objectives/trl/index.js";
import type { Objective } from "../objectives/types.js";
import { AnchorError } from "../tensor/errors.js";

type Factory = (opts?: Record<string, unknown>) => Objective;

/** Every objective factory taking one options object, by its exported name. */
export const OBJECTIVES: Readonly<Record<string, Factory>> = Object.fromEntries(
  (
    [
      "dpo",
      "robust",
      "hinge",
      "ipo",
      "exoPair",
      "ncaPair",
      "bcoPair",
      "sppoHard",
      "apoZero",
      "apoDown",
      "discopop",
      "dpop",
      "sft",
      "simpo",
      "cpo",
      "orpo",
      "mdpo",
      "acpo",
      "mpo",
    ] as const
  ).map((n) => [n, (objectives as unknown as Record<string, Factory>)[n]!]),
);

export interface ObjectiveSpec {
  name: string;
  [option: string]: unknown;
}

/** { "trl": { ...TRL fields } }: the objective TRL would compute (fromTrl, docs/trl.md). */
export interface TrlObjectiveSpec {
  trl: TrlConfig;
}

export const isTrlSpec = (spec: unknown): spec is TrlObjectiveSpec => !!spec && typeof spec === "object" && "trl" in spec;

/**
 * The objective of a config spec. A TRL spec gives a TrlObjective: called
 * with one argument it uses a fresh state, so a loop that carries TRL's
 * batch-to-batch state (v0.25 bco_pair) reads `.stateful` and threads it.
 */
export function objectiveFromSpec(spec: ObjectiveSpec | TrlObjectiveSpec, where = "objective"): Objective {
  if (isTrlSpec(spec)) {
    const extra = Object.keys(spec).filter((k) => k !== "trl");
    if (extra.length)
      throw new AnchorError(`${where}: a "trl" objective takes its fields inside "trl", not ${extra.map((k) => `"${k}"`).join(", ")}`);
    return objectives.fromTrl(spec.trl) as unknown as Objective;
  }
  if (!spec || typeof spec !== "object" || typeof spec.name !== "string")
    throw new AnchorError(`${where}: expected { "name": "<objective>", ...options }, got ${JSON.stringify(spec)}`);
  const { name, ...options } = spec;
  if (name === "weighted") {
    const terms = options.terms;
    if (!Array.isArray(terms) || terms.length === 0)
      throw new AnchorError(`${where}: "weighted" needs "terms": [[{ "name": ... }, weight], ...]`);
    return objectives.weighted(
      terms.map((t, i) => {
        if (!Array.isArray(t) || typeof t[1] !== "number")
          throw new AnchorError(`${where}.terms[${i}]: expected [{ "name": ... }, weight]`);
        return [objectiveFromSpec(t[0] as ObjectiveSpec, `${where}.terms[${i}]`), t[1]] as const;
      }),
    );
  }
  const factory = OBJECTIVES[name];
  if (!factory)
    throw new AnchorError(`${where}: unknown objective "${name}"; known: ${[...Object.keys(OBJECTIVES), "weighted"].join(", ")}`);
  return factory(options);
}

/**
 * Whether the spec uses objective `name`, itself or as a term of a weighted
 * sum: the loop must know before training which extra passes to run
 * (mdpo needs the chosen replies scored with a corrupted image).
 */
export function specUses(spec: ObjectiveSpec | TrlObjectiveSpec, name: string): boolean {
  if (isTrlSpec(spec)) return false;
  if (spec.name === name) return true;
  const terms = spec.name === "weighted" && Array.isArray(spec.terms) ? (spec.terms as unknown[]) : [];
  return terms.some((t) => Array.isArray(t) && !!t[0] && typeof t[0] === "object" && specUses(t[0] as ObjectiveSpec, name));
}

/**
 * The objectives export parity runs over: every built-in with default and
 * non-default options (test/objectives/cases.ts), the README's own
 * `marginDpo` (its definition read from README.md, not copied), weighted
 * compositions, and fromTrl configurations without batch-to-batch state.
 */
import { transformSync } from "esbuild";
import * as ag from "../../src/index.js";
import { readmeBlock } from "../helpers/readme.js";
import { CASES } from "./cases.js";

type Objective = ag.objectives.Objective;
const O = ag.objectives;

/** `marginDpo` exactly as README.md's objective example defines it. */
export function readmeMarginDpo(): (beta: number, gamma: number) => Objective {
  const block = readmeBlock("objective-example");
  const def = /^const marginDpo = [\s\S]*?^};$/m.exec(block);
  if (!def) throw new Error("README.md's objective example no longer defines `const marginDpo = ... };`");
  const js = transformSync(def[0], { loader: "ts" }).code;
  return new Function("ag", `${js}\nreturn marginDpo;`)(ag);
}

export interface ExportCase {
  readonly label: string;
  readonly make: () => Objective;
  /** Relative tolerance in float64 (1e-9 unless the objective computes in float32 itself). */
  readonly rtol64?: number;
}

const trl =
  (c: ag.objectives.TrlConfig): (() => Objective) =>
  () =>
    O.fromTrl(c) as unknown as Objective;

export function exportCases(): ExportCase[] {
  const marginDpo = readmeMarginDpo();
  return [
    ...CASES.map((c) => ({ label: c.label, make: c.make })),
    { label: "README marginDpo(0.1, 0.5)", make: () => marginDpo(0.1, 0.5) },
    {
      label: "weighted(0.8 dpo + 0.2 README marginDpo)",
      make: () =>
        O.weighted([
          [O.dpo(), 0.8],
          [marginDpo(0.2, 0.1), 0.2, "margin"],
        ]),
    },
    {
      label: "weighted(ipo + 0.5 sft token + 0.1 aot)",
      make: () =>
        O.weighted([
          [O.ipo(), 1],
          [O.sft({ nllReduction: "token" }), 0.5],
          [O.aot({ beta: 0.2 }), 0.1],
        ]),
    },
    {
      label: "fromTrl dpo MPO (main)",
      make: trl({ trainer: "dpo", loss_type: ["sigmoid", "bco_pair", "sft"], loss_weights: [0.8, 0.2, 1] }),
    },
    { label: "fromTrl dpo 0.25 sigmoid rpo_alpha", make: trl({ trainer: "dpo", version: "0.25", loss_type: "sigmoid", rpo_alpha: 1 }) },
    { label: "fromTrl cpo simpo (main)", make: trl({ trainer: "cpo", loss_type: ["simpo"], cpo_alpha: 0.5 }) },
    { label: "fromTrl orpo 0.25", make: trl({ trainer: "orpo", version: "0.25", beta: 0.2 }) },
  ];
}

/**
 * Extra numeric columns of JSONL rows ("weight": 0.5) reach the objective
 * through ag.train as batch.columns, aligned with the batch's pairs, on the
 * jitted pass as on the op-by-op one; the built-in `weights` option uses
 * them; a column missing from some rows is an error naming the row.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { generateShapes, readMpoJsonl, readMpoMeta, type PreferenceRow } from "../../src/data/index.js";
import * as ag from "../../src/index.js";
import * as objectives from "../../src/objectives/index.js";
import { adamw } from "../../src/optim/index.js";
import { train } from "../../src/train/index.js";
import { initStandinParams, standinModel } from "./standin.js";

const tmp = (p: string) => mkdtempSync(join(tmpdir(), `ag-columns-${p}-`));
let model: ReturnType<typeof standinModel>;
let rows: PreferenceRow[];
let dir: string;

/** The pairs as a JSONL file whose rows carry `extra(row, i)` besides their own fields. */
function writePairs(extra: (r: PreferenceRow, i: number) => Record<string, unknown>): string {
  const file = join(dir, `pairs-${Math.random().toString(36).slice(2)}.jsonl`);
  const line = (r: PreferenceRow, i: number) =>
    JSON.stringify({ image: r.images[0], question: r.question, chosen: r.chosen, rejected: r.rejected, ...extra(r, i) });
  writeFileSync(file, rows.map(line).join("\n") + "\n");
  return file;
}

const run = (data: PreferenceRow[], objective: ag.objectives.Objective, jit = true) =>
  train({
    model,
    params: initStandinParams(model.vocab, 3),
    objective,
    data,
    optimizer: adamw({ lr: 1e-2, weightDecay: 0 }),
    steps: 3,
    batchSize: 4,
    seed: 2,
    out: tmp("run"),
    progress: false,
    jit,
  });

beforeAll(async () => {
  dir = tmp("data");
  const manifest = await generateShapes({ out: dir, seed: 3, sftImages: 4, pairImages: 8, evalImages: 2, imageSize: 16 });
  rows = readMpoMeta(join(dir, manifest.pairsMeta)).rows.slice(0, 12);
  model = standinModel(manifest.words);
});

describe("data columns reach the objective", () => {
  it("as batch.columns, one value per pair of the batch, in the batch's order", async () => {
    // each row's weight is its chosen reply's token count, so the objective can check alignment against chosenLengths
    const file = writePairs((r) => ({ weight: model.encodeReply(r.chosen).length, id: "ignored: not a number" }));
    const data = readMpoJsonl(file).rows;
    expect(data[0]!.columns).toEqual({ weight: model.encodeReply(rows[0]!.chosen).length });
    const seen: { weight: number[]; lengths: number[]; names: string[] }[] = [];
    const recording: ag.objectives.Objective = (batch) => {
      seen.push({
        weight: [...batch.columns!.weight!.dataSync()],
        lengths: [...batch.chosenLengths.dataSync()],
        names: Object.keys(batch.columns!),
      });
      return objectives.dpo()(batch);
    };
    await run(data, recording, false);
    expect(seen).toHaveLength(3);
    for (const s of seen) {
      expect(s.names).toEqual(["weight"]);
      expect(s.weight).toEqual(s.lengths);
    }
  });

  it("dpo's weights option: all-zero weights give zero loss, all-one weights the unweighted loss (jitted pass)", async () => {
    const zero = readMpoJsonl(writePairs(() => ({ weight: 0 }))).rows;
    const one = readMpoJsonl(writePairs(() => ({ weight: 1 }))).rows;
    const weighted = objectives.dpo({ beta: 0.1, weights: "weight" });
    const zeroLoss = (await run(zero, weighted)).history.map((r) => r.loss);
    expect(zeroLoss).toEqual([0, 0, 0]);
    const oneLoss = (await run(one, weighted)).history.map((r) => r.loss!);
    const plain = (await run(rows, objectives.dpo({ beta: 0.1 }))).history.map((r) => r.loss!);
    oneLoss.forEach((l, i) => expect(l).toBeCloseTo(plain[i]!, 6));
    expect(plain[0]).toBeGreaterThan(0.1);
  });

  it("a column some rows lack is an error naming the row and the first row that has it", async () => {
    const file = writePairs((_, i) => (i === 5 ? {} : { weight: 1 }));
    await expect(run(readMpoJsonl(file).rows, objectives.dpo({ weights: "weight" }))).rejects.toThrow(
      new RegExp(`${file.replace(/[.]/g, "\\.")}:6: column "weight" is missing, but .*:1 has it`),
    );
  });
});

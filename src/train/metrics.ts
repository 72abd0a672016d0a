/**
 * metrics.jsonl: one JSON object per optimizer step, keyed by TRL's names
 * ("loss", "rewards/chosen", "rewards/margins", "logps/chosen", "grad_norm",
 * "learning_rate", "epoch", "step", ...), so existing plotting habits carry over.
 */
import { appendFile, writeFile } from "node:fs/promises";
import { readRegularTextIfAny } from "../io/files.js";
import { AnchorError } from "../tensor/errors.js";

export type MetricRow = Record<string, number>;

/** About a million steps of a few dozen metrics. */
const MAX_METRICS_BYTES = 1 << 30;

/** The rows of a metrics.jsonl; none where the file does not exist yet. */
export async function readMetrics(file: string): Promise<MetricRow[]> {
  const text =
    (await readRegularTextIfAny(
      file,
      { maxBytes: MAX_METRICS_BYTES },
      (why) => new AnchorError(`${file}: cannot read the metrics: ${why}`),
    )) ?? "";
  return text
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as MetricRow);
}

export class MetricsLog {
  private constructor(readonly file: string) {}

  /** Start a log: fresh, or (on resume) keeping only the rows of steps before `fromStep`. */
  static async open(file: string, fromStep = 0): Promise<MetricsLog> {
    const kept = fromStep > 0 ? (await readMetrics(file)).filter((r) => r.step! <= fromStep) : [];
    await writeFile(file, kept.map((r) => JSON.stringify(r) + "\n").join(""));
    return new MetricsLog(file);
  }

  async append(row: MetricRow): Promise<void> {
    await appendFile(this.file, JSON.stringify(row) + "\n");
  }
}

/**
 * What `resume` checks before continuing a run: that the run being started
 * is the run that was saved. A resumed run that silently continues with
 * another objective, learning rate or data set produces a curve that belongs
 * to neither run, so a difference is an error listing every changed key
 * unless the caller forces it.
 *
 * The comparison is generic over plain JSON-like objects, so it follows the
 * config schema whatever shape it takes; the only knowledge of keys is the
 * short list of top-level ones that describe where and how often to write,
 * not what is computed.
 */
import { createHash } from "node:crypto";
import { dirname, relative } from "node:path";
import type { PreferenceRow } from "../data/mpo.js";
import { AnchorError } from "../tensor/errors.js";

/**
 * Top-level config keys that may change on resume: they move or pace the
 * output and the numbers stay the same. skipBad is here because what it
 * changes, the rows, is compared by content (dataFingerprint).
 */
export const MAY_CHANGE_ON_RESUME: ReadonlySet<string> = new Set(["out", "skipBad", "saveEvery", "keepCheckpoints"]);

export class ResumeMismatchError extends AnchorError {
  override name = "ResumeMismatchError";
  constructor(
    readonly checkpoint: string,
    readonly differences: string[],
  ) {
    super(
      `train: ${checkpoint} was made with another configuration (${differences.join("; ")}); ` +
        `start a fresh run in another directory, or pass --force (force: true) to resume anyway`,
    );
  }
}

/** The data set as the loop sees it: row count and a hash of the rows' text and image names (relative to their file). */
export function dataFingerprint(rows: readonly PreferenceRow[]): { rows: number; sha256: string } {
  const h = createHash("sha256");
  for (const r of rows) {
    const images = r.images.map((i) => relative(dirname(r.source.file), i));
    h.update(JSON.stringify([images, r.question, r.chosen, r.rejected]));
    h.update("\n");
  }
  return { rows: rows.length, sha256: h.digest("hex") };
}

/**
 * The differences between a saved run description and the current one, as
 * "path: saved → current" lines. Both sides go through JSON first, so what is
 * compared is what a checkpoint stores (undefined fields are absent, functions
 * dropped). Top-level keys in `ignore` are skipped.
 */
export function configDifferences(saved: unknown, current: unknown, ignore: ReadonlySet<string> = MAY_CHANGE_ON_RESUME): string[] {
  const out: string[] = [];
  walk(asJson(saved), asJson(current), "", out, ignore);
  return out;
}

function asJson(v: unknown): unknown {
  return v === undefined ? undefined : JSON.parse(JSON.stringify(v));
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const show = (v: unknown) => (v === undefined ? "(unset)" : JSON.stringify(v));

function walk(a: unknown, b: unknown, path: string, out: string[], ignore: ReadonlySet<string>): void {
  if (isRecord(a) && isRecord(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const k of keys) if (!(path === "" && ignore.has(k))) walk(a[k], b[k], path ? `${path}.${k}` : k, out, ignore);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    a.forEach((x, i) => walk(x, b[i], `${path}[${i}]`, out, ignore));
    return;
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${path || "(config)"}: ${show(a)} → ${show(b)}`);
}

/** What a checkpoint records about its run, for the next `resume` to compare with (TrainerState.run). */
export interface RunDescription {
  /** The caller's resolved config, or without one what the loop itself knows (objective name, optimizer, seed, ...). */
  config: Record<string, unknown>;
  data: { rows: number; sha256: string };
  [k: string]: unknown;
}

/** Throw ResumeMismatchError if the run in `checkpoint` (described by `saved`) is not the run described by `current`. */
export function checkResume(checkpoint: string, saved: Record<string, unknown> | undefined, current: RunDescription): void {
  if (!saved) return; // a checkpoint from before runs were described
  const s = saved as RunDescription;
  const differences = configDifferences(s.config, current.config);
  if (s.data?.sha256 !== current.data.sha256)
    differences.push(
      `data set contents: ${s.data?.rows} rows (sha256 ${s.data?.sha256?.slice(0, 12)}) → ${current.data.rows} rows (sha256 ${current.data.sha256.slice(0, 12)})`,
    );
  if (differences.length) throw new ResumeMismatchError(checkpoint, differences);
}

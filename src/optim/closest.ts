/**
 * "Did you mean ...?" for names a user typed: the closest candidate by edit
 * distance, so a typo in a config key, a freeze pattern or a command name
 * gets an error that points at the fix instead of a bare "unknown".
 * (Here rather than in src/cli because train/config and optim use it too.)
 */

/** Levenshtein distance, case-insensitive, with `_`/`-` ignored so weight_decay ~ weightDecay. */
function distance(a: string, b: string): number {
  const norm = (s: string) => s.toLowerCase().replace(/[_-]/g, "");
  const x = norm(a),
    y = norm(b);
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const cur = [i];
    for (let j = 1; j <= y.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[y.length]!;
}

/** The candidate nearest to `typed`, or undefined when none is within about a third of its length. */
export function closest(typed: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined,
    bestD = Infinity;
  for (const c of candidates) {
    const d = distance(typed, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best !== undefined && bestD <= Math.max(2, Math.ceil(typed.length / 3)) ? best : undefined;
}

/** ` (did you mean "x"?)`, or "" when nothing is close. */
export function didYouMean(typed: string, candidates: Iterable<string>): string {
  const c = closest(typed, candidates);
  return c === undefined ? "" : ` (did you mean "${c}"?)`;
}

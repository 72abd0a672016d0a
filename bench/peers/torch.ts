/**
 * PyTorch through /usr/bin/python3, at its best on this machine. Debian's
 * torch runs its own ops on an OpenMP pool and its products on a pthread
 * OpenBLAS; on few cores the two pools can fight (an 8k-vocabulary InternVL
 * forward took 150–285 ms with torch.set_num_threads(2) on 2 cores, 24 ms with
 * 1), and torch's per-step temporaries go through glibc's mmap/trim path
 * unless its thresholds are raised. Which setting wins depends on the
 * machine and the case, and environment variables only count when set
 * before the process starts, so every configuration gets its own python
 * process running all the cases, and each row keeps the fastest
 * configuration's time and says which it was. OpenBLAS runs with this
 * machine's OPENBLAS_CORETYPE as set (see the env notes).
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Case } from "../cases.js";

export const PYTHON = process.env.ANCHORGRAD_PYTHON ?? "/usr/bin/python3";

/**
 * The environment the bench started in. anchorgrad's cpu backend sets
 * variables in its own process when it opens a BLAS (OPENBLAS_THREAD_TIMEOUT),
 * and torch would inherit them unannounced: each configuration starts from
 * this copy plus its own settings only.
 */
const STARTING_ENV = { ...process.env };

/** One way of starting torch: its intra-op threads and the environment it starts in. */
export interface TorchConfig {
  /** How the tables name it, e.g. "2 threads +passive +malloc" (no commas: --torch-config lists names with them). */
  readonly name: string;
  readonly threads: number;
  readonly env: Readonly<Record<string, string>>;
}

/**
 * glibc keeps freed blocks below the mmap threshold in its heap, and only
 * trims the heap's top above the trim threshold. 32 MiB is the largest mmap
 * threshold glibc accepts on 64-bit (a larger value is silently ignored);
 * the trim threshold has no cap.
 */
const MALLOC = { MALLOC_MMAP_THRESHOLD_: String(32 << 20), MALLOC_TRIM_THRESHOLD_: String(1 << 30) };
const PASSIVE = { OMP_WAIT_POLICY: "PASSIVE" };

/**
 * torch's usual settings for n cores: set_num_threads 1 and n, OpenMP's idle
 * threads sleeping instead of spinning (OMP_WAIT_POLICY=PASSIVE, "+passive"),
 * and glibc's malloc thresholds raised ("+malloc"), alone and together. `only` (a comma-separated
 * list of names, from --torch-config) keeps some of them.
 */
export function torchConfigs(n: number, only?: string): TorchConfig[] {
  const plural = (t: number) => `${t} thread${t === 1 ? "" : "s"}`;
  const all: TorchConfig[] = [
    { name: plural(1), threads: 1, env: {} },
    { name: `${plural(1)} +malloc`, threads: 1, env: MALLOC },
    ...(n > 1
      ? [
          { name: plural(n), threads: n, env: {} },
          { name: `${plural(n)} +malloc`, threads: n, env: MALLOC },
          { name: `${plural(n)} +passive`, threads: n, env: PASSIVE },
          { name: `${plural(n)} +passive +malloc`, threads: n, env: { ...PASSIVE, ...MALLOC } },
        ]
      : []),
  ];
  if (!only) return all;
  const names = only.split(",").map((s) => s.trim());
  const kept = all.filter((c) => names.includes(c.name));
  if (kept.length === 0) throw new Error(`--torch-config: none of ${names.join(", ")}; known: ${all.map((c) => c.name).join("; ")}`);
  return kept;
}

/** What one python process answered: its JSON, or why it could not run. */
export type PythonRun<T> = { out: T; unavailable?: undefined } | { out?: undefined; unavailable: string };

/** Run bench/peers/`script` under `config` with `job` (plus the config's threads) as JSON on stdin. */
export function runPython<T>(script: string, job: object, config: TorchConfig, timeoutMs = 900_000): PythonRun<T> {
  const path = fileURLToPath(new URL(`./${script}`, import.meta.url));
  const r = spawnSync(PYTHON, [path], {
    input: JSON.stringify({ ...job, threads: config.threads }),
    encoding: "utf8",
    maxBuffer: 1 << 26,
    timeout: timeoutMs,
    env: { ...STARTING_ENV, ...config.env },
  });
  if (r.error) return { unavailable: `${PYTHON}: ${r.error.message}` };
  if (r.status !== 0) {
    const why = /ModuleNotFoundError: No module named 'torch'/.test(r.stderr)
      ? "torch is not installed (npm run setup:oracle)"
      : (r.stderr.trim().split("\n").pop() ?? `exit ${r.status}`);
    return { unavailable: why };
  }
  return { out: JSON.parse(r.stdout) as T };
}

/** The fastest time of one row over the configurations, and which configuration it was. */
export interface Best {
  readonly ms: number;
  readonly config: string;
}

/** Keep, per key, the smallest time seen so far (`seen` is updated in place). */
export function keepBest<K>(seen: Map<K, Best>, key: K, ms: number, config: string): void {
  const prev = seen.get(key);
  if (!prev || ms < prev.ms) seen.set(key, { ms, config });
}

export interface TorchRun {
  /** Fastest median ms per case index over the configurations, or why no configuration ran it. */
  readonly results: Map<number, Best | { error: string }>;
  readonly version?: string;
  /** Set when torch could not run at all. */
  readonly unavailable?: string;
  /** The configurations tried, and why any of them failed. */
  readonly tried: readonly string[];
}

/** The kernel cases under every configuration (torch_bench.py, one process each), fastest per case. */
export function runTorch(
  cases: readonly Case[],
  plan: (c: Case) => { iterations: number; warmup: number },
  configs: readonly TorchConfig[],
): TorchRun {
  const job = { cases: cases.map((c, id) => ({ id: String(id), spec: c.spec, ...plan(c) })) };
  const best = new Map<number, Best>();
  const errors = new Map<number, string>();
  const tried: string[] = [];
  let version: string | undefined, unavailable: string | undefined;
  for (const config of configs) {
    const r = runPython<{ torch: string; results: Record<string, { ms: number } | { error: string }> }>("torch_bench.py", job, config);
    if (r.unavailable !== undefined) {
      tried.push(`${config.name}: unavailable: ${r.unavailable}`);
      unavailable ??= r.unavailable;
      continue;
    }
    tried.push(config.name);
    version = r.out.torch;
    for (const [k, v] of Object.entries(r.out.results)) {
      if ("error" in v) errors.set(Number(k), v.error);
      else keepBest(best, Number(k), v.ms, config.name);
    }
  }
  const results = new Map<number, Best | { error: string }>(
    cases.map((_, i) => [i, best.get(i) ?? { error: errors.get(i) ?? "no result" }]),
  );
  return { results, tried, ...(version ? { version } : { unavailable: unavailable ?? "no configuration ran" }) };
}

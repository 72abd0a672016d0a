/**
 * The run lock: one trainer per output directory.
 *
 * Two trainers on one folder would interleave metrics.jsonl and prune each
 * other's checkpoints, so `train` holds `<out>/.anchorgrad.lock` while it runs.
 * The file names its holder (pid, host, start time). It is created whole by
 * hard-linking a fully written private file into place, so a reader never
 * sees a half-written lock and exactly one of two racing trainers wins.
 *
 * A lock whose holder is dead (same host, no such pid) is stale: a trainer
 * killed with SIGKILL or by the OOM killer leaves one behind, and the next
 * trainer takes it over. Takeover runs under a `.takeover` directory (mkdir
 * is atomic) so that two trainers cannot both remove the stale lock and then
 * one remove the other's fresh one. A holder on another host cannot be
 * checked from here, so that lock is refused with the path to remove by hand.
 *
 * Why not proper-lockfile: it judges staleness by an mtime heartbeat, which
 * a long synchronous training step on the main thread would starve, and it
 * does not record who holds the lock, which is what a refused user needs.
 */
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { link, mkdir, rm, stat, unlink, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { readRegularTextIfAny } from "../io/files.js";
import { AnchorError } from "../tensor/errors.js";

export const LOCK_FILE = ".anchorgrad.lock";
/** A lock holds a pid, a host name, a date and a token: far under this. */
const MAX_LOCK_BYTES = 64 << 10;

export interface LockHolder {
  pid: number;
  host: string;
  started: string;
  /** Tells this lock from a later one by a process that reuses the pid. */
  token: string;
}

/** Another live trainer holds the output directory. */
export class RunLockedError extends AnchorError {
  override name = "RunLockedError";
  constructor(
    readonly dir: string,
    readonly holder: LockHolder,
    hint: string,
  ) {
    super(
      `${dir} is in use by another trainer (pid ${holder.pid} on ${holder.host}, since ${holder.started}); ${hint}, or choose another output directory`,
    );
  }
}

export interface RunLock {
  readonly file: string;
  readonly holder: LockHolder;
  /** Remove the lock if it is still ours. */
  release(): Promise<void>;
}

/** Tokens of the locks this process holds (a pid alone cannot tell "me" from "a dead process whose pid I got"). */
const held = new Map<string, string>();
/** Locks still held when the process exits (process.exit on a second Ctrl-C) are removed on the way out. */
let exitHook = false;
function removeOnExit(): void {
  if (exitHook) return;
  exitHook = true;
  process.on("exit", () => {
    for (const file of held.keys()) rmSync(file, { force: true });
  });
}

/** A takeover directory older than this was left by a trainer that died mid-takeover. */
const TAKEOVER_STALE_MS = 10_000;

/** Take the lock on `dir` (which must exist), taking over a stale one; throws RunLockedError if a live trainer holds it. */
export async function lockRun(dir: string): Promise<RunLock> {
  const file = join(dir, LOCK_FILE);
  const me: LockHolder = { pid: process.pid, host: hostname(), started: new Date().toISOString(), token: randomBytes(8).toString("hex") };
  const mine = `${file}.${me.pid}-${me.token}`;
  await writeFile(mine, JSON.stringify(me) + "\n");
  try {
    for (;;) {
      try {
        await link(mine, file);
        held.set(file, me.token);
        removeOnExit();
        return { file, holder: me, release: () => release(file, me.token) };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      }
      const holder = await readHolder(file);
      if (holder === "gone") continue;
      const verdict = liveness(holder);
      if (verdict !== "dead") throw new RunLockedError(dir, holder, verdict);
      await takeOver(file, holder);
    }
  } finally {
    await rm(mine, { force: true });
  }
}

async function release(file: string, token: string): Promise<void> {
  held.delete(file);
  const holder = await readHolder(file).catch(() => "gone" as const);
  if (holder !== "gone" && holder.token === token) await unlink(file).catch(() => {});
}

async function readHolder(file: string): Promise<LockHolder | "gone"> {
  const text = await readRegularTextIfAny(
    file,
    { maxBytes: MAX_LOCK_BYTES },
    (why) => new AnchorError(`${file}: cannot read the run lock: ${why}`),
  );
  if (text === null) return "gone";
  try {
    const h = JSON.parse(text) as LockHolder;
    if (Number.isInteger(h.pid) && typeof h.host === "string" && typeof h.token === "string") return h;
  } catch {
    // fall through: not a lock this code wrote
  }
  throw new AnchorError(`${file}: not a valid anchorgrad lock file; remove it if no trainer is using this directory`);
}

/** "dead", or a hint for the user about the live (or unknowable) holder. */
function liveness(h: LockHolder): "dead" | string {
  if (h.host !== hostname()) return `it runs on another host, so it cannot be checked from here; remove ${LOCK_FILE} if it has stopped`;
  if (h.pid === process.pid) return [...held.values()].includes(h.token) ? "this process already trains there" : "dead";
  try {
    process.kill(h.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ESRCH") return "dead";
  }
  return `wait for it to finish or stop it (kill ${h.pid})`;
}

/** Remove `file` if it still names the dead `holder`, serialised with other trainers doing the same. */
async function takeOver(file: string, holder: LockHolder): Promise<void> {
  const guard = `${file}.takeover`;
  try {
    await mkdir(guard);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    const age = await stat(guard).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    if (age > TAKEOVER_STALE_MS) await rm(guard, { recursive: true, force: true });
    else await new Promise((r) => setTimeout(r, 20));
    return; // the caller retries from the start
  }
  try {
    const now = await readHolder(file);
    if (now !== "gone" && now.token === holder.token) await unlink(file);
  } finally {
    await rm(guard, { recursive: true, force: true });
  }
}

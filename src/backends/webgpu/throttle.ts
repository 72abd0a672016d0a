/**
 * Backpressure for a software adapter under a loop that never yields.
 *
 * Why: Mesa's lavapipe runs every `vkQueueSubmit` on a submit thread with an
 * unbounded queue, so `queue.submit()` returns at once and a synchronous loop
 * issues work (~14k dispatches/s here) faster than lavapipe runs it (~3k/s).
 * Each queued dispatch keeps its recorded commands (Dawn's and lavapipe's,
 * ~650 bytes) until it has run, so RSS grows with the backlog, without bound.
 * Dawn itself recycles finished work at every submit (it ticks the device
 * there), so once the backlog is bounded, memory is flat.
 *
 * The usual ways to wait for the GPU (`onSubmittedWorkDone`, `mapAsync`,
 * error scopes) all settle from `setImmediate`, which a loop with no `await`
 * never reaches, and dawn.node exposes no synchronous wait. But a software
 * adapter is this process's own threads: while the calling thread sleeps
 * (Atomics.wait), the queued work is done exactly when no other thread of
 * the process is runnable. So after a few unconfirmed submits the queue
 * sleeps in short slices until /proc/self/task shows no other runnable
 * thread twice in a row. Hardware adapters, and systems without /proc, get
 * no throttle (their drivers bound their own queues). A completed read also
 * confirms that everything before it has run. ANCHORGRAD_GPU_THROTTLE=0
 * turns the throttle off (to measure without it).
 */
import { closeSync, openSync, readSync, readdirSync, readlinkSync } from "node:fs";

/** Submits issued since the adapter was last seen idle, before the next submit waits. */
const MAX_UNCONFIRMED = 3;
/** Sleep between looks at the threads, in ms. */
const SLICE_MS = 0.5;
/** Consecutive idle looks that count as idle (a thread may sleep briefly between jobs). */
const IDLE_LOOKS = 2;
/** A wait gives up after this long (another busy thread in the process would never let it end). */
const MAX_WAIT_MS = 2000;

export interface ThrottleStats {
  /** Counter: synchronous waits for a software adapter to finish queued work. */
  throttleWaits: number;
  /** Counter: milliseconds spent in them. */
  throttleMs: number;
  /** Counter: waits that gave up after MAX_WAIT_MS. */
  throttleTimeouts: number;
}

export class SubmitThrottle {
  readonly stats: ThrottleStats = { throttleWaits: 0, throttleMs: 0, throttleTimeouts: 0 };
  private unconfirmed = 0;
  private readonly sleeper = new Int32Array(new SharedArrayBuffer(4));
  /** Reused for each /proc read: the loop this serves must not make garbage (readFileSync makes 64 KB per file). */
  private readonly buf = Buffer.alloc(512);

  private constructor(
    /** The calling thread's id, whose own state does not count. */
    private readonly self: string,
  ) {}

  /** A throttle where the adapter runs on this process's threads and Linux shows their states; else null. */
  static create(software: boolean): SubmitThrottle | null {
    if (!software || process.platform !== "linux" || process.env.ANCHORGRAD_GPU_THROTTLE === "0") return null;
    try {
      const self = readlinkSync("/proc/thread-self").split("/").at(-1)!;
      const t = new SubmitThrottle(self);
      t.othersRunnable(t.threads()); // fails here, not mid-loop, where /proc is not readable
      return t;
    } catch {
      return null;
    }
  }

  /** Call after each submit: past MAX_UNCONFIRMED submits, wait until the queued work has run. */
  submitted(): void {
    if (++this.unconfirmed > MAX_UNCONFIRMED) this.waitIdle();
  }

  /** Everything submitted so far has run (a read of it completed). */
  confirmIdle(): void {
    this.unconfirmed = 0;
  }

  /** Sleep in slices until no other thread of the process is runnable (the adapter is idle). */
  waitIdle(): void {
    const t0 = performance.now();
    const threads = this.threads();
    let idle = 0;
    for (;;) {
      Atomics.wait(this.sleeper, 0, 0, SLICE_MS);
      idle = this.othersRunnable(threads) ? 0 : idle + 1;
      if (idle >= IDLE_LOOKS) break;
      if (performance.now() - t0 > MAX_WAIT_MS) {
        this.stats.throttleTimeouts++;
        break;
      }
    }
    this.unconfirmed = 0;
    this.stats.throttleWaits++;
    this.stats.throttleMs += performance.now() - t0;
  }

  /** The stat files of the process's threads but the caller. */
  private threads(): string[] {
    return readdirSync("/proc/self/task")
      .filter((tid) => tid !== this.self)
      .map((tid) => `/proc/self/task/${tid}/stat`);
  }

  /** Whether any of these threads is running or runnable ("R" in its stat). */
  private othersRunnable(threads: readonly string[]): boolean {
    for (const path of threads) {
      let n: number;
      try {
        const fd = openSync(path, "r");
        try {
          n = readSync(fd, this.buf, 0, this.buf.length, 0);
        } finally {
          closeSync(fd);
        }
      } catch {
        continue; // the thread exited
      }
      // "tid (comm) S ...": the state follows the last ")" (comm may hold spaces or parentheses)
      const close = this.buf.lastIndexOf(0x29, n - 1);
      if (close > 0 && this.buf[close + 2] === 0x52 /* R */) return true;
    }
    return false;
  }
}

/**
 * Graceful stop for the training loop: SIGINT (Ctrl-C) and SIGTERM (what
 * job schedulers and `docker stop` send) let the current step finish, then
 * the loop saves a checkpoint and returns. A second signal exits at once;
 * the atomic checkpoint write means that never leaves a torn checkpoint.
 *
 * A process that catches a fatal signal should still end with the status
 * the signal would have given it (128 + its number: 130 for SIGINT, 143 for
 * SIGTERM), because that is how shells, `timeout`, Slurm and Kubernetes tell
 * "stopped" from "finished". So when a caught signal stopped the run,
 * `dispose` sets process.exitCode; the CLI must not overwrite it.
 */
import { constants } from "node:os";

const SIGNALS = ["SIGINT", "SIGTERM"] as const;
export type StopSignal = (typeof SIGNALS)[number];

export const signalExitCode = (s: StopSignal): number => 128 + constants.signals[s];

export class GracefulStop {
  /** The process signal that stopped the run, if one did. */
  caught: StopSignal | null = null;
  private external = false;
  private readonly onSignal = (s: StopSignal) => {
    if (this.aborted) process.exit(signalExitCode(s));
    this.caught = s;
  };

  /** `external` stops the run like a signal does, without an exit code; `handle` false leaves the process's signals alone. */
  constructor(
    external: AbortSignal | undefined,
    private readonly handle: boolean,
  ) {
    if (external?.aborted) this.external = true;
    external?.addEventListener("abort", () => (this.external = true));
    if (handle) for (const s of SIGNALS) process.on(s, this.onSignal);
  }

  get aborted(): boolean {
    return this.external || this.caught !== null;
  }

  /** Remove the handlers; if a caught signal stopped the run, set the exit status it would have given. */
  dispose(): void {
    if (!this.handle) return;
    for (const s of SIGNALS) process.off(s, this.onSignal);
    if (this.caught) process.exitCode = signalExitCode(this.caught);
  }
}

/** The training progress bar (cli-progress on stderr): step, loss, rewards/margins, ETA. */
import cliProgress from "cli-progress";

export interface Progress {
  update(step: number, values: Record<string, number>): void;
  stop(): void;
}

const fmt = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? "  -   " : v.toFixed(4));

export function progressBar(label: string, total: number, start: number, enabled: boolean): Progress {
  if (!enabled) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} {bar} {value}/{total} | loss {loss} | margins {margins} | chosen {chosen} | {duration_formatted} (eta {eta_formatted})`,
      stream: process.stderr,
      hideCursor: true,
      etaBuffer: 20,
      noTTYOutput: !process.stderr.isTTY,
      notTTYSchedule: 10_000,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, start, { loss: fmt(undefined), margins: fmt(undefined), chosen: fmt(undefined) });
  return {
    update(step, v) {
      bar.update(step, { loss: fmt(v.loss), margins: fmt(v["rewards/margins"]), chosen: fmt(v["rewards/chosen"]) });
    },
    stop() {
      bar.stop();
    },
  };
}

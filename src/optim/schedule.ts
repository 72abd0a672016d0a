/**
 * Learning-rate schedules: step -> learning rate, where step counts the
 * updates already applied (the first update uses schedule(0)). The shapes
 * follow Hugging Face's `get_*_schedule_with_warmup`, so recipes written for
 * transformers/TRL carry over: a linear warmup from 0 that reaches the peak
 * at step `warmupSteps`, then the decay.
 */
import { AnchorError } from "../tensor/errors.js";

export type Schedule = (step: number) => number;
export type LearningRate = number | Schedule;

export const lrAt = (lr: LearningRate, step: number): number => (typeof lr === "number" ? lr : lr(step));

export interface WarmupOptions {
  /** Peak learning rate. */
  peak: number;
  /** Steps of linear warmup from 0 (default 0). */
  warmupSteps?: number;
  /** Total number of updates; the decay reaches its floor here. */
  totalSteps: number;
  /** Floor as a fraction of the peak (default 0). */
  minRatio?: number;
}

function check(name: string, o: WarmupOptions): Required<WarmupOptions> {
  const w = o.warmupSteps ?? 0,
    m = o.minRatio ?? 0;
  if (!(o.peak >= 0) || !Number.isFinite(o.peak)) throw new AnchorError(`${name}: peak must be a finite number >= 0, got ${o.peak}`);
  if (!Number.isInteger(o.totalSteps) || o.totalSteps < 1)
    throw new AnchorError(`${name}: totalSteps must be a positive integer, got ${o.totalSteps}`);
  if (!Number.isInteger(w) || w < 0 || w > o.totalSteps)
    throw new AnchorError(`${name}: warmupSteps must be an integer in [0, totalSteps=${o.totalSteps}], got ${w}`);
  if (!(m >= 0 && m <= 1)) throw new AnchorError(`${name}: minRatio must be in [0, 1], got ${m}`);
  return { peak: o.peak, warmupSteps: w, totalSteps: o.totalSteps, minRatio: m };
}

/** Linear warmup, then a half cosine from the peak down to minRatio·peak. */
export function warmupCosine(opts: WarmupOptions): Schedule {
  const o = check("warmupCosine", opts);
  return (step) => {
    if (step < o.warmupSteps) return (o.peak * step) / o.warmupSteps;
    const progress = Math.min(1, (step - o.warmupSteps) / Math.max(1, o.totalSteps - o.warmupSteps));
    return o.peak * (o.minRatio + (1 - o.minRatio) * 0.5 * (1 + Math.cos(Math.PI * progress)));
  };
}

/** Linear warmup, then a straight line from the peak down to minRatio·peak. */
export function warmupLinear(opts: WarmupOptions): Schedule {
  const o = check("warmupLinear", opts);
  return (step) => {
    if (step < o.warmupSteps) return (o.peak * step) / o.warmupSteps;
    const progress = Math.min(1, (step - o.warmupSteps) / Math.max(1, o.totalSteps - o.warmupSteps));
    return o.peak * (1 - (1 - o.minRatio) * progress);
  };
}

/** Linear warmup, then constant at the peak. */
export function warmupConstant(opts: Omit<WarmupOptions, "totalSteps" | "minRatio">): Schedule {
  const o = check("warmupConstant", { ...opts, totalSteps: Math.max(1, opts.warmupSteps ?? 0) });
  return (step) => (step < o.warmupSteps ? (o.peak * step) / o.warmupSteps : o.peak);
}

/** Builds a schedule from its JSON description (used by `anchorgrad train --config`). */
export interface ScheduleSpec {
  type: "constant" | "cosine" | "linear";
  peak: number;
  warmupSteps?: number;
  /** Alternative to warmupSteps: a fraction of totalSteps (rounded up), as TRL's warmup_ratio. */
  warmupRatio?: number;
  minRatio?: number;
}

export function scheduleFromSpec(spec: ScheduleSpec, totalSteps: number): Schedule {
  const warmupSteps = spec.warmupSteps ?? Math.ceil((spec.warmupRatio ?? 0) * totalSteps);
  const o = { peak: spec.peak, warmupSteps, totalSteps, minRatio: spec.minRatio };
  switch (spec.type) {
    case "cosine":
      return warmupCosine(o);
    case "linear":
      return warmupLinear(o);
    case "constant":
      return warmupConstant(o);
    default:
      throw new AnchorError(
        `schedule: unknown type ${JSON.stringify((spec as { type: unknown }).type)}; expected "constant", "cosine" or "linear"`,
      );
  }
}

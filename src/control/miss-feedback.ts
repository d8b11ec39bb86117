/**
 * Feedback from the deadlines actually met to the planner's work budget.
 *
 * The planner budgets a share of the core for inference from what it can model: stage latencies, the arrival rate,
 * the other work on the core. What it cannot model shows up only as misses: arrivals that come in clumps, pauses of
 * the garbage collector, a receive path that falls behind. Near capacity those turn a plan that fits on average into
 * a standing queue, and frames are shed or answered late while the planner still runs them at the deepest exit.
 *
 * So the realized outcomes steer a scale on the inference budget: a period whose misses exceed the allowed share,
 * while the core is busy, shrinks it (lower exits, shorter queues, more slack); every other period lets it grow back
 * by a step. Misses on an idle core are not the budget's fault (lower exits would not help), so they never shrink it.
 * Judged per period, not per frame: one miss among many frames does not move it.
 */
export interface MissFeedbackOptions {
  /** Misses the planner's targets allow (share of judged frames). Default 0.01. */
  allowedMissShare?: number;
  /** How often outcomes are judged (ms). Default 250. */
  periodMs?: number;
  /** Multiplies the scale after a period with too many misses on a busy core. Default 0.8. */
  shrinkFactor?: number;
  /** Added to the scale after every other period. Default 0.02 (from the floor to 1 in about 10 s). */
  growStep?: number;
  /** The scale never goes below it. Default 0.3. */
  minScale?: number;
  /** The core counts as busy from this share of a period spent in inference and other work. Default 0.75. */
  busyShare?: number;
}

const DEFAULTS: Required<MissFeedbackOptions> = {
  allowedMissShare: 0.01,
  periodMs: 250,
  shrinkFactor: 0.8,
  growStep: 0.02,
  minScale: 0.3,
  busyShare: 0.75,
};

export class MissFeedback {
  private readonly options: Required<MissFeedbackOptions>;
  private periodStartTs: number | undefined;
  private judged = 0;
  private misses = 0;
  private inferenceMs = 0;
  private current = 1;

  constructor(options: MissFeedbackOptions = {}) {
    this.options = { ...DEFAULTS, ...options };
  }

  /** A frame's outcome: answered in time, or missed (answered late, or shed for want of time). */
  observeOutcome(onTime: boolean, nowTs: number): void {
    this.periodStartTs ??= nowTs;
    this.judged += 1;
    if (!onTime) this.misses += 1;
  }

  /** Wall time the model's inference held the core (a batch's start to its end). */
  observeInference(ms: number): void {
    this.inferenceMs += Math.max(0, ms);
  }

  /** The scale as the last closed period left it (no period is closed). */
  get value(): number {
    return this.current;
  }

  /**
   * The scale (minScale..1) for the inference budget at `nowTs`; closes the period when it is due. `otherWorkShare`:
   * the share of the core other work takes now (with inference, whether the core was busy).
   */
  scale(nowTs: number, otherWorkShare: number): number {
    const start = (this.periodStartTs ??= nowTs);
    const elapsed = nowTs - start;
    if (elapsed < this.options.periodMs) return this.current;
    const { allowedMissShare, shrinkFactor, growStep, minScale, busyShare } = this.options;
    const busy = this.inferenceMs / elapsed + otherWorkShare >= busyShare;
    // One stray miss a period is tolerated: at a few frames a period it alone would exceed any small share.
    const tooMany = this.misses > 1 + allowedMissShare * this.judged;
    // A long quiet gap (no plans, so no period closed) grows it by every period it spanned.
    const periods = Math.floor(elapsed / this.options.periodMs);
    this.current = tooMany && busy ? Math.max(minScale, this.current * shrinkFactor) : Math.min(1, this.current + growStep * periods);
    this.periodStartTs = nowTs;
    this.judged = 0;
    this.misses = 0;
    this.inferenceMs = 0;
    return this.current;
  }
}

/**
 * Recent arrival rate of one model's queue (frames/ms), for the planner's room reservation. An EWMA of the gaps
 * between arrivals; when arrivals stop, the silence since the last one counts as a gap in progress, so the rate
 * decays instead of staying at the last burst's level.
 */
export class ArrivalRateEstimator {
  private meanGapMs: number | undefined;
  private lastTs: number | undefined;

  /** alpha: weight of the newest gap; 0.05 averages over roughly the last 40 arrivals. */
  constructor(private readonly alpha = 0.05) {}

  observe(arrivalTs: number): void {
    if (this.lastTs !== undefined) {
      const gap = Math.max(0, arrivalTs - this.lastTs);
      this.meanGapMs = this.meanGapMs === undefined ? gap : this.meanGapMs + this.alpha * (gap - this.meanGapMs);
    }
    this.lastTs = this.lastTs === undefined ? arrivalTs : Math.max(this.lastTs, arrivalTs);
  }

  /** Frames per ms at `now`; 0 until two arrivals were seen. */
  ratePerMs(now: number): number {
    if (this.meanGapMs === undefined || this.lastTs === undefined) return 0;
    // The silence so far is a gap still in progress: it counts like an observation once it outlasts the mean.
    const silence = now - this.lastTs;
    const gap = this.meanGapMs + this.alpha * Math.max(0, silence - this.meanGapMs);
    return 1 / Math.max(gap, 1e-3);
  }
}

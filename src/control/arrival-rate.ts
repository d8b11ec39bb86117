/**
 * Arrival rate of one model's queue (frames/ms), as two EWMAs of the gaps between arrivals: a recent one for the
 * planner's room reservation (it must see a burst coming) and a sustained one for its work budget (what the machine
 * must keep up with in the long run; see PlannerState). When arrivals stop, the silence since the last one counts as a
 * gap in progress, so both rates decay instead of staying at the last burst's level.
 */
/** How far the recent rate must pass the sustained one to count as a step up rather than scatter. */
const STEP_UP = 1.5;

/**
 * A gap this many times the sustained mean gap is a pause, not scatter (Poisson gaps pass 20x their mean once in e^20;
 * the sustained mean, over ~200 gaps, is not pulled down by a clump of frames read at once): both averages start over
 * from the gaps after it. Averaged in, a pause of a few seconds read a load that then came at 400 fr/s as a few frames
 * per second for ~90 arrivals, and the planner ran its first quarter second at deep exits.
 */
const PAUSE_GAP_RATIO = 20;
/** ... once the mean averages this many gaps (one short first gap would make every next one look like a pause). */
const GAPS_TO_JUDGE_A_PAUSE = 20;

export class ArrivalRateEstimator {
  private readonly recent: GapAverage;
  private readonly sustained: GapAverage;
  private lastTs: number | undefined;

  /**
   * alpha: weight of the newest gap in the recent rate; 0.05 averages over roughly the last 40 arrivals.
   * sustainedAlpha: the same for the sustained rate; 0.01 averages over roughly the last 200. Forty Poisson gaps
   * scatter by about 16%, so a work budget set by the recent rate would lower frames now and then at half load.
   */
  constructor(alpha = 0.05, sustainedAlpha = 0.01) {
    this.recent = new GapAverage(alpha);
    this.sustained = new GapAverage(sustainedAlpha);
  }

  observe(arrivalTs: number): void {
    if (this.lastTs !== undefined) {
      const gap = Math.max(0, arrivalTs - this.lastTs);
      const sustainedMean = this.sustained.settledMeanMs;
      if (sustainedMean !== undefined && gap > PAUSE_GAP_RATIO * sustainedMean) {
        // A pause: what comes after it is measured from its own gaps.
        this.recent.restart();
        this.sustained.restart();
      } else {
        this.recent.add(gap);
        this.sustained.add(gap);
      }
    }
    this.lastTs = this.lastTs === undefined ? arrivalTs : Math.max(this.lastTs, arrivalTs);
  }

  /** Recent frames per ms at `now`; 0 until two arrivals were seen. */
  ratePerMs(now: number): number {
    return this.recent.ratePerMs(this.silenceMs(now));
  }

  /**
   * Sustained frames per ms at `now`; 0 until two arrivals were seen. A step up shows at once: when the recent rate
   * passes the sustained one by more than its own scatter could (STEP_UP, ~3 sigma of 40 Poisson gaps), it is taken.
   * Averaged over ~200 arrivals alone, a 4x burst was under-read for a second: the budget kept exits too deep, and
   * the burst's second and third seconds missed 10-15 points more than its steady state.
   */
  sustainedRatePerMs(now: number): number {
    const silence = this.silenceMs(now);
    const sustained = this.sustained.ratePerMs(silence);
    const recent = this.recent.ratePerMs(silence);
    return recent > STEP_UP * sustained ? recent : sustained;
  }

  private silenceMs(now: number): number {
    return this.lastTs === undefined ? NaN : now - this.lastTs;
  }
}

class GapAverage {
  private meanGapMs: number | undefined;
  /** Gaps averaged since the last start over: the first ones weigh 1/n (a plain mean) until alpha is smaller. */
  private gaps = 0;

  constructor(private readonly alpha: number) {}

  /** The mean gap, once it averages enough gaps to judge a new one against it. */
  get settledMeanMs(): number | undefined {
    return this.gaps >= GAPS_TO_JUDGE_A_PAUSE ? this.meanGapMs : undefined;
  }

  restart(): void {
    this.meanGapMs = undefined;
    this.gaps = 0;
  }

  add(gapMs: number): void {
    this.gaps += 1;
    const weight = Math.max(this.alpha, 1 / this.gaps);
    this.meanGapMs = this.meanGapMs === undefined ? gapMs : this.meanGapMs + weight * (gapMs - this.meanGapMs);
  }

  ratePerMs(silenceMs: number): number {
    if (this.meanGapMs === undefined || !Number.isFinite(silenceMs)) return 0;
    // The silence so far is a gap still in progress: it counts like an observation once it outlasts the mean.
    const gap = this.meanGapMs + this.alpha * Math.max(0, silenceMs - this.meanGapMs);
    return 1 / Math.max(gap, 1e-3);
  }
}

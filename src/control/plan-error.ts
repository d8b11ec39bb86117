/**
 * How much later than predicted batches really end: the high quantile of (actual end − predicted end) over the
 * recent batches, never below 0. The planner keeps that much of every deadline in reserve (finishMarginMs): the
 * latency model's risk quantile covers the stages' spread, this covers the rest (GC pauses, a busy neighbour, a
 * planner that packs frames right up to their deadlines).
 */
export class PlanErrorEstimator {
  private readonly errors: Float64Array;
  private count = 0;
  private next = 0;
  private cached = 0;
  /** Observations since the quantile was last computed: sorting every batch would cost a small model ~5%. */
  private stale = 0;

  /** window: recent batches kept; quantile: of their errors. */
  constructor(
    window = 256,
    private readonly quantile = 0.95,
  ) {
    this.errors = new Float64Array(Math.max(1, window));
  }

  observe(predictedEndTs: number, actualEndTs: number): void {
    const error = actualEndTs - predictedEndTs;
    if (!Number.isFinite(error)) return;
    this.errors[this.next] = error;
    this.next = (this.next + 1) % this.errors.length;
    this.count = Math.min(this.count + 1, this.errors.length);
    this.stale++;
  }

  /** The margin to plan with (ms); 0 until a batch was seen. */
  get marginMs(): number {
    if (this.stale > 0 && (this.stale >= 16 || this.count <= 16)) {
      this.stale = 0;
      const sorted = Array.from(this.errors.subarray(0, this.count)).sort((a, b) => a - b);
      const at = Math.min(sorted.length - 1, Math.ceil(this.quantile * sorted.length) - 1);
      this.cached = Math.max(0, sorted[Math.max(0, at)] ?? 0);
    }
    return this.cached;
  }
}

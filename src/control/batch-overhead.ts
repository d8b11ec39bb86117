/**
 * Batch wall time the stage timings do not cover (packing inputs, softmax, callbacks, planning), learned from every
 * batch as an EWMA, for the planner's `batchOverheadMs`.
 */
export class BatchOverheadEstimator {
  private estimateMs: number;

  constructor(initialMs = 0) {
    this.estimateMs = Math.max(0, initialMs);
  }

  /** One batch: its wall time and the sum of its stage timings. */
  observe(batchWallMs: number, stagesMs: number): void {
    // A stall (GC, a busy neighbour) counts at most 4x the current estimate, as in the latency model.
    const observed = Math.min(Math.max(0, batchWallMs - stagesMs), 4 * Math.max(this.estimateMs, 0.05));
    this.estimateMs += 0.2 * (observed - this.estimateMs);
  }

  get ms(): number {
    return this.estimateMs;
  }
}

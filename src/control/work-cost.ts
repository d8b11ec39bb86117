/**
 * A learnt cost in ms of one kind of work around inference (decoding one frame of a flow), for admission's "can it
 * still make it" check. An EWMA whose observations are bounded at 4x the estimate, as in the latency model: one
 * stall (a collection, a descheduled thread) barely moves it, a lasting slowdown is followed within a few dozen
 * frames. Unknown (0) until the first observation: the check is then optimistic, never shedding on a guess.
 */
export class WorkCostEstimate {
  private estimateMs = 0;
  private observed = 0;

  constructor(private readonly alpha = 0.05) {}

  observe(ms: number): void {
    if (!(ms >= 0)) return;
    this.observed += 1;
    if (this.observed === 1) {
      this.estimateMs = ms;
      return;
    }
    // The first few observations move it fast (a running mean), then the EWMA takes over.
    const weight = Math.max(this.alpha, 1 / this.observed);
    const bounded = Math.min(ms, 4 * Math.max(this.estimateMs, 0.05));
    this.estimateMs += weight * (bounded - this.estimateMs);
  }

  get ms(): number {
    return this.estimateMs;
  }
}

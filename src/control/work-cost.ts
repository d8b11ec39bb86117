/**
 * A learnt cost in ms of one kind of work around inference (decoding one frame of a flow), for admission's "can it
 * still make it" check: the median of the last `window` observations. One stall (a collection, a burst of arrivals
 * handled before the decode's completion could run) does not move it, however early it comes; a lasting change is
 * followed within half a window. Unknown (0) until the first observation: the check is then optimistic, never
 * shedding on a guess.
 */
export class WorkCostEstimate {
  private readonly recent: number[] = [];
  private next = 0;
  private estimateMs = 0;

  constructor(private readonly window = 15) {}

  observe(ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) return;
    if (this.recent.length < this.window) this.recent.push(ms);
    else this.recent[this.next] = ms;
    this.next = (this.next + 1) % this.window;
    const sorted = [...this.recent].sort((a, b) => a - b);
    const middle = sorted.length >> 1;
    this.estimateMs = sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
  }

  get ms(): number {
    return this.estimateMs;
  }
}

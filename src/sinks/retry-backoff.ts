/**
 * Capped exponential backoff with full jitter: attempt n waits a random time in [base/2, base] where
 * base = min(maxMs, initialMs · 2ⁿ). The jitter keeps many flows from hammering a recovering InfluxDB in step.
 */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** Injected for tests; default Math.random. */
  random?: () => number;
}

export class RetryBackoff {
  private attempt = 0;

  constructor(private readonly options: BackoffOptions) {}

  /** The delay before the next retry; each call grows the next one until it reaches the cap. */
  nextDelayMs(): number {
    const base = Math.min(this.options.maxMs, this.options.initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt += 1;
    const random = this.options.random ?? Math.random;
    return base / 2 + (base / 2) * random();
  }

  reset(): void {
    this.attempt = 0;
  }

  get failures(): number {
    return this.attempt;
  }
}

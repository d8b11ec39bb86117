/**
 * How fast a simulator publishes over time: steady, or bursts (e.g. 2 s at 4x the base rate every 10 s) to push the
 * controller into shedding and shallower exits.
 */
export type LoadProfile =
  | { kind: 'steady' }
  | {
      kind: 'bursts';
      /** Rate multiplier during a burst (e.g. 4). */
      factor: number;
      /** Burst length (e.g. 2,000 ms). */
      burstMs: number;
      /** A burst starts every this many ms (e.g. 10,000), at the start of each period. */
      everyMs: number;
      /** When the first burst starts (default 0: at once); steady before it. */
      firstBurstAtMs?: number;
    };

/** Frames per second at `elapsedMs` after the start. */
export function rateAt(profile: LoadProfile, baseRatePerSecond: number, elapsedMs: number): number {
  if (profile.kind === 'steady') return baseRatePerSecond;
  const sinceFirst = elapsedMs - (profile.firstBurstAtMs ?? 0);
  if (sinceFirst < 0) return baseRatePerSecond;
  const inPeriod = sinceFirst % profile.everyMs;
  return inPeriod < profile.burstMs ? baseRatePerSecond * profile.factor : baseRatePerSecond;
}

export function validateLoadProfile(profile: LoadProfile, baseRatePerSecond: number): void {
  if (!(baseRatePerSecond > 0)) throw new RangeError(`rate must be positive, got ${baseRatePerSecond}`);
  if (profile.kind === 'bursts') {
    if (!(profile.factor > 0) || !(profile.burstMs > 0) || !(profile.everyMs > profile.burstMs) || !((profile.firstBurstAtMs ?? 0) >= 0)) {
      throw new RangeError('bursts need factor > 0, 0 < burstMs < everyMs and firstBurstAtMs >= 0');
    }
  }
}

/**
 * Turns a rate profile into "how many frames are due now": integrates the rate between calls, so timer jitter does
 * not change the number of frames sent, only their spacing. Pure apart from the clock passed in.
 */
export class FrameScheduler {
  private credit = 0;
  private last: number;

  constructor(
    private readonly profile: LoadProfile,
    private baseRatePerSecond: number,
    private readonly startedAt: number,
    /** Most frames released by one call (after a long stall, do not flood). */
    private readonly maxBurst = 1_000,
  ) {
    validateLoadProfile(profile, baseRatePerSecond);
    this.last = startedAt;
  }

  /** A new base rate from now on (the profile still multiplies it); frames already due are kept. */
  setBaseRate(ratePerSecond: number): void {
    validateLoadProfile(this.profile, ratePerSecond);
    this.baseRatePerSecond = ratePerSecond;
  }

  due(now: number): number {
    // Integrate in steps of at most 10 ms so a burst edge between two calls is honoured.
    let t = this.last;
    while (t < now) {
      const step = Math.min(10, now - t);
      this.credit += (rateAt(this.profile, this.baseRatePerSecond, t - this.startedAt) * step) / 1_000;
      t += step;
    }
    this.last = Math.max(this.last, now);
    const frames = Math.min(this.maxBurst, Math.floor(this.credit + 1e-9));
    this.credit -= frames;
    if (this.credit > this.maxBurst) this.credit = 0;
    return frames;
  }
}

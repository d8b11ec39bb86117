/**
 * Tells whether a waveform block follows the previous one without a gap, from the blocks' source timestamps (the
 * time of each block's first sample). A server that samples slower than it updates, or a reconnection, loses
 * blocks; a window must not join samples across such a gap. The sample interval is the configured one or, without
 * it, learnt from the first two blocks.
 */
export type BlockVerdict = 'first' | 'contiguous' | 'gap' | 'duplicate';

export class BlockContinuity {
  private lastTs: number | undefined;
  private lastLength = 0;
  private learntIntervalMs: number | undefined;

  constructor(private readonly configuredIntervalMs?: number) {}

  /** Milliseconds between samples: configured, learnt, or undefined while unknown. */
  get sampleIntervalMs(): number | undefined {
    return this.configuredIntervalMs ?? this.learntIntervalMs;
  }

  check(sourceTs: number, length: number): BlockVerdict {
    const lastTs = this.lastTs;
    const lastLength = this.lastLength;
    if (lastTs !== undefined && sourceTs === lastTs) return 'duplicate';
    this.lastTs = sourceTs;
    this.lastLength = length;
    if (lastTs === undefined) return 'first';
    const interval = this.sampleIntervalMs;
    if (interval === undefined) {
      if (sourceTs > lastTs) this.learntIntervalMs = (sourceTs - lastTs) / lastLength;
      return 'contiguous';
    }
    const expected = lastTs + lastLength * interval;
    // Half a block of slack for timestamp jitter; a lost block shifts by a whole block.
    return Math.abs(sourceTs - expected) <= (lastLength * interval) / 2 ? 'contiguous' : 'gap';
  }

  reset(): void {
    this.lastTs = undefined;
  }
}

import { describe, expect, it } from 'vitest';
import { BlockContinuity } from '../../src/sources/block-continuity.ts';

describe('BlockContinuity', () => {
  it('accepts blocks that follow on at the configured rate and flags a lost block', () => {
    const continuity = new BlockContinuity(1000 / 12_000);
    expect(continuity.check(0, 1200)).toBe('first');
    expect(continuity.check(100, 1200)).toBe('contiguous');
    expect(continuity.check(203, 1200)).toBe('contiguous'); // jitter
    expect(continuity.check(403, 1200)).toBe('gap');
    expect(continuity.check(403, 1200)).toBe('duplicate');
    expect(continuity.check(503, 1200)).toBe('contiguous');
  });

  it('learns the sample interval from the first two blocks', () => {
    const continuity = new BlockContinuity();
    expect(continuity.check(1_000, 1200)).toBe('first');
    expect(continuity.check(1_100, 1200)).toBe('contiguous');
    expect(continuity.sampleIntervalMs).toBeCloseTo(1000 / 12_000, 9);
    expect(continuity.check(1_200, 1200)).toBe('contiguous');
    expect(continuity.check(1_500, 1200)).toBe('gap');
  });

  it('starts over after reset', () => {
    const continuity = new BlockContinuity(1);
    continuity.check(0, 10);
    continuity.reset();
    expect(continuity.check(500, 10)).toBe('first');
  });
});

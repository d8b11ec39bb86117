import { describe, expect, it } from 'vitest';
import { BatchOverheadEstimator } from '../../src/control/batch-overhead.ts';

describe('BatchOverheadEstimator', () => {
  it('learns the batch time outside the stages', () => {
    const overhead = new BatchOverheadEstimator();
    for (let i = 0; i < 200; i++) overhead.observe(1.5, 1.2);
    expect(overhead.ms).toBeCloseTo(0.3, 6);
  });

  it('lets a one-off stall move it by a bounded step', () => {
    const overhead = new BatchOverheadEstimator(0.3);
    overhead.observe(500, 1);
    // At most 4x the estimate counts: 0.3 + 0.2 × (1.2 − 0.3).
    expect(overhead.ms).toBeCloseTo(0.48, 6);
  });

  it('never goes negative when stage timings exceed the wall time', () => {
    const overhead = new BatchOverheadEstimator(0.1);
    for (let i = 0; i < 50; i++) overhead.observe(1, 2);
    expect(overhead.ms).toBeGreaterThanOrEqual(0);
    expect(overhead.ms).toBeLessThan(0.01);
  });
});

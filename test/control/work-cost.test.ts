import { describe, expect, it } from 'vitest';
import { WorkCostEstimate } from '../../src/control/work-cost.ts';

describe('WorkCostEstimate', () => {
  it('is 0 (optimistic) until observed, then follows the mean of the first observations', () => {
    const cost = new WorkCostEstimate();
    expect(cost.ms).toBe(0);
    cost.observe(2);
    cost.observe(4);
    expect(cost.ms).toBeCloseTo(3, 6);
  });

  it('barely moves for one stall, follows a lasting change', () => {
    const cost = new WorkCostEstimate();
    for (let i = 0; i < 200; i++) cost.observe(1);
    cost.observe(100);
    // Bounded at 4x the estimate, weighted 0.05: 1 + 0.05 * 3.
    expect(cost.ms).toBeLessThan(1.2);
    for (let i = 0; i < 200; i++) cost.observe(2);
    expect(cost.ms).toBeCloseTo(2, 2);
  });

  it('ignores observations that are not durations', () => {
    const cost = new WorkCostEstimate();
    cost.observe(Number.NaN);
    cost.observe(-1);
    expect(cost.ms).toBe(0);
  });
});

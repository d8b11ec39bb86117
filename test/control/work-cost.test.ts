import { describe, expect, it } from 'vitest';
import { WorkCostEstimate } from '../../src/control/work-cost.ts';

describe('WorkCostEstimate', () => {
  it('is 0 (optimistic) until observed, then the median of what it saw', () => {
    const cost = new WorkCostEstimate();
    expect(cost.ms).toBe(0);
    cost.observe(2);
    expect(cost.ms).toBe(2);
    cost.observe(4);
    expect(cost.ms).toBe(3);
    cost.observe(100);
    expect(cost.ms).toBe(4);
  });

  it('is not moved by a stall, however early, and follows a lasting change within half its window', () => {
    const cost = new WorkCostEstimate(15);
    cost.observe(100); // the first decode finished behind a burst of arrivals
    for (let i = 0; i < 2; i++) cost.observe(1);
    expect(cost.ms).toBe(1);
    for (let i = 0; i < 20; i++) cost.observe(1);
    cost.observe(50);
    expect(cost.ms).toBe(1);
    for (let i = 0; i < 8; i++) cost.observe(2);
    expect(cost.ms).toBe(2);
  });

  it('ignores observations that are not durations', () => {
    const cost = new WorkCostEstimate();
    cost.observe(Number.NaN);
    cost.observe(-1);
    cost.observe(Number.POSITIVE_INFINITY);
    expect(cost.ms).toBe(0);
  });
});

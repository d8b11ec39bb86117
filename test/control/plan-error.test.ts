import { describe, expect, it } from 'vitest';
import { PlanErrorEstimator } from '../../src/control/plan-error.ts';

describe('PlanErrorEstimator', () => {
  it('is 0 before any batch and when batches end early', () => {
    const errors = new PlanErrorEstimator();
    expect(errors.marginMs).toBe(0);
    for (let i = 0; i < 50; i++) errors.observe(100, 99);
    expect(errors.marginMs).toBe(0);
  });

  it('is the high quantile of how late batches end', () => {
    const errors = new PlanErrorEstimator(100, 0.95);
    // 100 batches late by 0.00, 0.01, …, 0.99 ms: the 95th is 0.94.
    for (let i = 0; i < 100; i++) errors.observe(10, 10 + i / 100);
    expect(errors.marginMs).toBeCloseTo(0.94, 6);
  });

  it('forgets batches older than its window', () => {
    const errors = new PlanErrorEstimator(32, 0.95);
    for (let i = 0; i < 32; i++) errors.observe(0, 5);
    expect(errors.marginMs).toBe(5);
    for (let i = 0; i < 32; i++) errors.observe(0, 0.5);
    expect(errors.marginMs).toBe(0.5);
  });
});

import { describe, expect, it } from 'vitest';
import { ArrivalRateEstimator } from '../../src/control/arrival-rate.ts';

describe('ArrivalRateEstimator', () => {
  it('knows nothing before two arrivals', () => {
    const estimator = new ArrivalRateEstimator();
    expect(estimator.ratePerMs(0)).toBe(0);
    estimator.observe(0);
    expect(estimator.ratePerMs(0)).toBe(0);
  });

  it('measures a steady rate', () => {
    const estimator = new ArrivalRateEstimator();
    for (let t = 0; t <= 1000; t += 4) estimator.observe(t);
    expect(estimator.ratePerMs(1000)).toBeCloseTo(0.25, 6);
  });

  it('follows a rate change within about a hundred arrivals', () => {
    const estimator = new ArrivalRateEstimator();
    let t = 0;
    for (let i = 0; i < 200; i++) estimator.observe((t += 10));
    for (let i = 0; i < 100; i++) estimator.observe((t += 2));
    expect(estimator.ratePerMs(t)).toBeGreaterThan(0.45);
  });

  it('decays when arrivals stop', () => {
    const estimator = new ArrivalRateEstimator();
    for (let t = 0; t <= 100; t += 1) estimator.observe(t);
    expect(estimator.ratePerMs(100)).toBeCloseTo(1, 6);
    expect(estimator.ratePerMs(1100)).toBeLessThan(0.05);
    expect(estimator.ratePerMs(10_100)).toBeLessThan(0.005);
  });
});

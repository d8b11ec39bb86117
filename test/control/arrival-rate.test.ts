import { describe, expect, it } from 'vitest';
import { ArrivalRateEstimator } from '../../src/control/arrival-rate.ts';
import { seededRandom } from '../helpers/seeded-random.ts';

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

  it('keeps a sustained rate that scatters far less than the recent one over Poisson arrivals', () => {
    const random = seededRandom(3);
    const estimator = new ArrivalRateEstimator();
    let t = 0;
    const recent: number[] = [];
    const sustained: number[] = [];
    for (let i = 0; i < 20_000; i++) {
      estimator.observe((t += -Math.log(1 - random()) / 5));
      if (i >= 2_000) {
        recent.push(estimator.ratePerMs(t));
        sustained.push(estimator.sustainedRatePerMs(t));
      }
    }
    const spread = (xs: number[]): number => {
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      return Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length) / mean;
    };
    // Over the last ~40 gaps the estimate scatters by ~16%; over ~200 by ~7%.
    expect(spread(recent)).toBeGreaterThan(0.12);
    expect(spread(sustained)).toBeLessThan(0.09);
    expect(sustained.filter((rate) => rate > 1.25 * 5).length / sustained.length).toBeLessThan(0.01);
    expect(recent.filter((rate) => rate > 1.25 * 5).length / recent.length).toBeGreaterThan(0.05);
  });

  it('takes a step up in the sustained rate within a few dozen arrivals, a step down within a few hundred', () => {
    const estimator = new ArrivalRateEstimator();
    let t = 0;
    for (let i = 0; i < 1_000; i++) estimator.observe((t += 10));
    // 0.1 -> 0.5 frames/ms (a burst): two thirds of it read within 40 arrivals (80 ms), nearly all within 80; the
    // ~200-arrival average alone would still read 0.14 and 0.18.
    for (let i = 0; i < 40; i++) estimator.observe((t += 2));
    expect(estimator.sustainedRatePerMs(t)).toBeGreaterThan(0.3);
    for (let i = 0; i < 40; i++) estimator.observe((t += 2));
    expect(estimator.sustainedRatePerMs(t)).toBeGreaterThan(0.45);
    for (let i = 0; i < 400; i++) estimator.observe((t += 2));
    expect(estimator.sustainedRatePerMs(t)).toBeGreaterThan(0.45);
    // Back to 0.1: the sustained rate comes down over a few hundred arrivals, not at the first long gaps.
    for (let i = 0; i < 20; i++) estimator.observe((t += 10));
    expect(estimator.sustainedRatePerMs(t)).toBeGreaterThan(0.25);
    for (let i = 0; i < 500; i++) estimator.observe((t += 10));
    expect(estimator.sustainedRatePerMs(t)).toBeLessThan(0.12);
  });

  it('reads a load that starts after a pause from its own first gaps, not from the pause', () => {
    const estimator = new ArrivalRateEstimator();
    let t = 0;
    for (let i = 0; i < 500; i++) estimator.observe((t += 10));
    // Five seconds without a frame, then 0.4 frames/ms: averaged in, the pause read ~0.02 after ten arrivals.
    t += 5_000;
    estimator.observe(t);
    for (let i = 0; i < 10; i++) estimator.observe((t += 2.5));
    expect(estimator.ratePerMs(t)).toBeCloseTo(0.4, 6);
    expect(estimator.sustainedRatePerMs(t)).toBeCloseTo(0.4, 6);
    // One gap of several means (a camera's hiccup) is scatter, averaged in like any other.
    estimator.observe((t += 25));
    expect(estimator.ratePerMs(t)).toBeLessThan(0.4);
    expect(estimator.ratePerMs(t)).toBeGreaterThan(0.1);
  });

  it('decays when arrivals stop', () => {
    const estimator = new ArrivalRateEstimator();
    for (let t = 0; t <= 100; t += 1) estimator.observe(t);
    expect(estimator.ratePerMs(100)).toBeCloseTo(1, 6);
    expect(estimator.ratePerMs(1100)).toBeLessThan(0.05);
    expect(estimator.ratePerMs(10_100)).toBeLessThan(0.005);
    expect(estimator.sustainedRatePerMs(10_100)).toBeLessThan(0.02);
  });
});

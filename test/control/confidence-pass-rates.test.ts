import { describe, expect, it } from 'vitest';
import { ConfidencePassRateEstimator } from '../../src/control/confidence-pass-rates.ts';
import { MODEL } from './fixtures.ts';

// MODEL thresholds at 0.95: exit 1 0.97, exit 2 0.9, exit 3 0.8; at 0.99: exit 1 none, exit 2 0.99.
describe('ConfidencePassRateEstimator', () => {
  it('reads 0 until enough frames reached an exit: no frame is assumed to stop early', () => {
    const rates = new ConfidencePassRateEstimator(MODEL, { minFrames: 10 });
    for (let i = 0; i < 9; i++) rates.observe([0.99]);
    expect(rates.passRate(1, '0.95')).toBe(0);
    rates.observe([0.99]);
    expect(rates.passRate(1, '0.95')).toBe(1);
  });

  it('counts at a later exit only the frames that had not passed an earlier one', () => {
    const rates = new ConfidencePassRateEstimator(MODEL, { minFrames: 1 });
    // Every frame ran all four exits (an idle machine); half were confident at exit 1.
    for (let i = 0; i < 50; i++) rates.observe([0.98, 0.95, 0.5, 0.5]);
    for (let i = 0; i < 50; i++) rates.observe([0.5, 0.5, 0.85, 0.5]);
    expect(rates.passRate(1, '0.95')).toBeCloseTo(0.5, 1);
    // At 0.95, the exit-1-confident frames are gone by exit 2; of the rest none passes there, all pass exit 3.
    expect(rates.passRate(2, '0.95')).toBe(0);
    expect(rates.passRate(3, '0.95')).toBe(1);
    // A level without a threshold at exit 1 passes nobody there.
    expect(rates.passRate(1, '0.99')).toBe(0);
    expect(rates.passRate(2, '0.99')).toBe(0);
  });

  it('follows a shift in the input within about a window of frames', () => {
    const rates = new ConfidencePassRateEstimator(MODEL, { window: 50, minFrames: 1 });
    for (let i = 0; i < 500; i++) rates.observe([0.99]);
    expect(rates.passRate(1, '0.90')).toBeCloseTo(1, 5);
    for (let i = 0; i < 200; i++) rates.observe([0.1, 0.1]);
    expect(rates.passRate(1, '0.90')).toBeLessThan(0.05);
  });

  it('learns from answered frames, and how often a frame that passed and ran on was answered differently deeper', () => {
    const rates = new ConfidencePassRateEstimator(MODEL, { minFrames: 4 });
    const frame = (exits: [number, number][]) => ({ exits: exits.map(([confidence, classIndex]) => ({ confidence, classIndex })) });
    // Confident at exit 1 (0.98 ≥ 0.97 at the 0.95 level), ran on to exit 3: at exit 2 none answered differently, at
    // exit 3 one in four.
    rates.observeAnswers([frame([[0.98, 1], [0.9, 1], [0.9, 1]]), frame([[0.98, 2], [0.9, 2], [0.9, 2]]), undefined]);
    rates.observeAnswers([frame([[0.98, 0], [0.9, 0], [0.9, 0]])]);
    expect(rates.disagreement(1, '0.95', 3)).toBeNaN();
    rates.observeAnswers([frame([[0.98, 3], [0.9, 3], [0.9, 0]])]);
    expect(rates.passRate(1, '0.95')).toBe(1);
    expect(rates.disagreement(1, '0.95', 2)).toBe(0);
    expect(rates.disagreement(1, '0.95', 3)).toBeCloseTo(0.25, 2);
    expect(rates.disagreement(1, '0.95', 4)).toBeNaN();
    expect(rates.disagreement(2, '0.95', 3)).toBeNaN();
    // A frame that stopped where it passed shows nothing about what running on would have answered.
    for (let i = 0; i < 10; i++) rates.observeAnswers([frame([[0.98, 5]])]);
    expect(rates.disagreement(1, '0.95', 3)).toBeCloseTo(0.25, 2);
  });
});

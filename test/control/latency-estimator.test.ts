import { describe, expect, it } from 'vitest';
import { ControlError } from '../../src/control/control-error.ts';
import { LatencyEstimator, normalQuantile } from '../../src/control/latency-estimator.ts';
import { batchFactor, gaussian, profile, seededRandom, STAGE_MS } from './fixtures.ts';

describe('LatencyEstimator seeded from a profile', () => {
  const estimator = new LatencyEstimator(profile(1.1));

  it.each([
    { stage: 1, batchSize: 1, risk: 0.5, expected: 2 },
    { stage: 4, batchSize: 8, risk: 0.5, expected: 6 * batchFactor(8) },
    { stage: 2, batchSize: 4, risk: 0.95, expected: 3 * batchFactor(4) * 1.1 },
    // Unmeasured sizes: linear in between, the last per-frame slope beyond.
    { stage: 3, batchSize: 3, risk: 0.5, expected: 4 * batchFactor(3) },
    { stage: 3, batchSize: 16, risk: 0.5, expected: 4 * batchFactor(16) },
  ])('stage $stage, batch $batchSize, q$risk → $expected ms', ({ stage, batchSize, risk, expected }) => {
    expect(estimator.stageMs(stage, batchSize, risk)).toBeCloseTo(expected, 6);
  });

  it('orders risk quantiles: p50 < p95 < p99', () => {
    const [p50, p95, p99] = [0.5, 0.95, 0.99].map((q) => estimator.stageMs(2, 2, q));
    expect(p50).toBeLessThan(p95 ?? 0);
    expect(p95).toBeLessThan(p99 ?? 0);
  });

  it('sums stage ranges and costs nothing for an empty range', () => {
    const all = STAGE_MS.reduce((a, b) => a + b, 0);
    expect(estimator.stagesMs(1, 4, 1, 0.5)).toBeCloseTo(all, 6);
    expect(estimator.stagesMs(2, 3, 1, 0.5)).toBeCloseTo(7, 6);
    expect(estimator.stagesMs(3, 2, 1, 0.5)).toBe(0);
  });

  it('never predicts a batch below its smallest measured size as cheaper than that size', () => {
    const fromTwo = new LatencyEstimator(profile(1.1, [2, 4]));
    expect(fromTwo.stageMs(1, 1, 0.5)).toBeCloseTo(2 * batchFactor(2), 6);
  });

  it('extends a single measured batch size proportionally', () => {
    const single = new LatencyEstimator(profile(1.1, [1]));
    expect(single.stageMs(1, 4, 0.5)).toBeCloseTo(8, 6);
  });
});

describe('LatencyEstimator online updates', () => {
  it('notices a 2x slowdown: p95 covers it within 4 observations, the mean within 10% in 11', () => {
    const estimator = new LatencyEstimator(profile(1.1));
    const slow = 2 * 2; // stage 1, batch 1, twice as slow
    let p95CoversAfter = -1;
    let meanWithin10After = -1;
    for (let n = 1; n <= 30; n++) {
      estimator.observe({ stage: 1, batchSize: 1, ms: slow });
      if (p95CoversAfter < 0 && estimator.stageMs(1, 1, 0.95) >= slow) p95CoversAfter = n;
      if (meanWithin10After < 0 && Math.abs(estimator.stageMs(1, 1, 0.5) - slow) <= 0.1 * slow) meanWithin10After = n;
    }
    expect(p95CoversAfter).toBeGreaterThan(0);
    expect(p95CoversAfter).toBeLessThanOrEqual(4);
    expect(meanWithin10After).toBeGreaterThan(0);
    expect(meanWithin10After).toBeLessThanOrEqual(11);
  });

  it('carries a slowdown seen at one batch size to the others of that stage, not to other stages', () => {
    const estimator = new LatencyEstimator(profile(1.1));
    for (let i = 0; i < 40; i++) estimator.observe({ stage: 2, batchSize: 4, ms: 3 * batchFactor(4) * 3 });
    expect(estimator.stageMs(2, 1, 0.5)).toBeCloseTo(9, 1);
    expect(estimator.stageMs(2, 6, 0.5)).toBeCloseTo(3 * batchFactor(6) * 3, 1);
    expect(estimator.stageMs(1, 1, 0.5)).toBeCloseTo(2, 6);
  });

  it('learns a profile wrong in shape: each size run often enough is predicted from what it showed', () => {
    // Profiled while something loaded the machine: stage 1 at batch 8 came out twice as slow as it runs (relative to
    // batch 1, which came out right). The service runs batches of 1 and 8 in turn.
    const skewed = profile(1.1).map((entry) => (entry.stage === 1 && entry.batchSize === 8 ? { ...entry, medianMs: entry.medianMs * 2, p95Ms: entry.p95Ms * 2 } : entry));
    const estimator = new LatencyEstimator(skewed);
    const trueMs = (batchSize: number): number => 2 * batchFactor(batchSize);
    for (let i = 0; i < 40; i++) {
      estimator.observe({ stage: 1, batchSize: 1, ms: trueMs(1) });
      estimator.observe({ stage: 1, batchSize: 8, ms: trueMs(8) });
    }
    // One factor for the stage would sit between the two and miss both by ~40%.
    expect(estimator.stageMs(1, 1, 0.5) / trueMs(1)).toBeGreaterThan(0.9);
    expect(estimator.stageMs(1, 1, 0.5) / trueMs(1)).toBeLessThan(1.1);
    expect(estimator.stageMs(1, 8, 0.5) / trueMs(8)).toBeGreaterThan(0.9);
    expect(estimator.stageMs(1, 8, 0.5) / trueMs(8)).toBeLessThan(1.1);
    // A size never run in between follows the two around it.
    expect(estimator.stageMs(1, 4, 0.5)).toBeLessThan(2 * batchFactor(4) * 2 * 0.85);
    // Once only batch 8 runs for a while, batch 1 falls back to the stage's factor, as with no shape learnt: 1.5x, what
    // batch 8 now shows against its profiled time (whether batch 1 slowed as much, nothing here says).
    for (let i = 0; i < 150; i++) estimator.observe({ stage: 1, batchSize: 8, ms: 3 * trueMs(8) });
    expect(estimator.stageMs(1, 8, 0.5) / (3 * trueMs(8))).toBeCloseTo(1, 1);
    expect(estimator.stageMs(1, 1, 0.5) / trueMs(1)).toBeGreaterThan(1.4);
  });

  it('recovers when the machine is fast again', () => {
    const estimator = new LatencyEstimator(profile(1.1));
    for (let i = 0; i < 30; i++) estimator.observe({ stage: 1, batchSize: 1, ms: 6 });
    for (let i = 0; i < 30; i++) estimator.observe({ stage: 1, batchSize: 1, ms: 2 });
    expect(estimator.stageMs(1, 1, 0.5)).toBeCloseTo(2, 1);
    expect(estimator.estimates()[0]?.observations).toBe(60);
  });

  it('learns the spread: the p95 prediction covers about 95% of noisy observations', () => {
    const random = seededRandom(7);
    const sample = (): number => 3 * Math.exp(0.15 * gaussian(random));
    const estimator = new LatencyEstimator(profile(1.1));
    for (let i = 0; i < 500; i++) estimator.observe({ stage: 2, batchSize: 1, ms: sample() });
    let covered = 0;
    const trials = 2000;
    for (let i = 0; i < trials; i++) {
      const predicted = estimator.stageMs(2, 1, 0.95);
      const ms = sample();
      if (ms <= predicted) covered++;
      estimator.observe({ stage: 2, batchSize: 1, ms });
    }
    expect(covered / trials).toBeGreaterThan(0.9);
    expect(covered / trials).toBeLessThan(0.995);
  });

  it('shrugs off a stall: one 10x observation moves the median under 5% and the p95 under 25%', () => {
    const estimator = new LatencyEstimator(profile(1.1));
    const [p50, p95] = [estimator.stageMs(1, 1, 0.5), estimator.stageMs(1, 1, 0.95)];
    estimator.observe({ stage: 1, batchSize: 1, ms: 20 });
    expect(estimator.stageMs(1, 1, 0.5)).toBeGreaterThan(p50);
    expect(estimator.stageMs(1, 1, 0.5)).toBeLessThan(1.05 * p50);
    expect(estimator.stageMs(1, 1, 0.95)).toBeLessThan(1.25 * p95);
  });

  it('bounds the pull of one huge outlier', () => {
    const estimator = new LatencyEstimator(profile(1.1));
    estimator.observe({ stage: 1, batchSize: 1, ms: 2_000 });
    // Capped at 4x the estimate: the median moves by at most alpha·3 = 0.6.
    expect(estimator.stageMs(1, 1, 0.5)).toBeLessThanOrEqual(2 * 1.6 + 1e-9);
  });

  it.each([{ ms: Number.NaN }, { ms: -1 }, { ms: Number.POSITIVE_INFINITY }])('ignores a bogus timing $ms', ({ ms }) => {
    const estimator = new LatencyEstimator(profile(1.1));
    estimator.observe({ stage: 1, batchSize: 1, ms });
    expect(estimator.stageMs(1, 1, 0.5)).toBe(2);
    expect(estimator.estimates()[0]?.observations).toBe(0);
  });
});

describe('LatencyEstimator rejects what it cannot plan with', () => {
  const entry = { stage: 1, batchSize: 1, medianMs: 2, p95Ms: 3, samples: 10 };
  it.each([
    { name: 'an empty profile', entries: [] },
    { name: 'a missing stage', entries: [entry, { ...entry, stage: 3 }] },
    { name: 'a zero median', entries: [{ ...entry, medianMs: 0 }] },
    { name: 'p95 below the median', entries: [{ ...entry, p95Ms: 1 }] },
    { name: 'a fractional batch size', entries: [{ ...entry, batchSize: 1.5 }] },
  ])('$name', ({ entries }) => {
    expect(() => new LatencyEstimator(entries)).toThrow(ControlError);
    try {
      new LatencyEstimator(entries);
    } catch (error) {
      expect(error).toMatchObject({ code: 'EDGEKE_CONTROL_PROFILE', retryable: false });
    }
  });

  it('an unknown stage', () => {
    const estimator = new LatencyEstimator([entry]);
    expect(() => estimator.stageMs(2, 1, 0.5)).toThrow(expect.objectContaining({ code: 'EDGEKE_CONTROL_STAGE' }));
  });
});

describe('normalQuantile', () => {
  it.each([
    { p: 0.5, z: 0 },
    { p: 0.9, z: 1.2816 },
    { p: 0.95, z: 1.6449 },
    { p: 0.99, z: 2.3263 },
    { p: 0.999, z: 3.0902 },
    { p: 0.2, z: 0 },
  ])('q($p) = $z', ({ p, z }) => {
    expect(normalQuantile(p)).toBeCloseTo(z, 3);
  });
});

import { describe, expect, it } from 'vitest';
import { LatencyEstimator } from '../../src/control/index.ts';
import { cameraLoadFromMeasuredCost } from '../../src/demo/calibrate-camera-load.ts';
import { burstRateFloor, burstSearchSettled, nextLiveBurstRate, outcomeBetween, cameraLoadFromCosts, chosenBurstRate, inBurst, judgeProbe, nextBurstRate, perFrameCostByExit } from '../../src/demo/camera-load.ts';

describe('camera load from the measured capacity', () => {
  it('puts bursts past what the deepest exit sustains and within what the first exit sustains', () => {
    for (const costs of [[1, 2, 4], [5, 5.5, 6.5], [0.5, 3, 10]]) {
      const load = cameraLoadFromCosts(costs);
      const burst = load.baseRate * load.factor;
      const [first, , deepest] = load.capacityByExit as [number, number, number];
      expect(burst, String(costs)).toBeGreaterThan(deepest * 0.99);
      expect(burst, String(costs)).toBeLessThanOrEqual(first * 0.8 + load.factor);
      // Between bursts the deepest exit keeps up with room to spare, so the mix recovers.
      expect(load.baseRate, String(costs)).toBeLessThan(deepest * 0.61);
    }
  });

  it('scales with the machine: twice the cost, half the rate', () => {
    expect(cameraLoadFromCosts([2, 4, 8]).baseRate).toBeCloseTo(cameraLoadFromCosts([1, 2, 4]).baseRate / 2, -0.5);
  });

  it('takes per-exit costs from the latency model plus the measured cost outside the model', () => {
    const profile = [1, 2, 3].flatMap((stage) => [1, 2, 4, 8].map((batchSize) => ({ stage, batchSize, medianMs: stage * batchSize * 0.5, p95Ms: stage * batchSize * 0.6, samples: 30 })));
    const model = new LatencyEstimator(profile);
    const modelCosts = perFrameCostByExit(model, 8, 0);
    expect(modelCosts[0]).toBeCloseTo(0.5, 1);
    expect(modelCosts[2]).toBeCloseTo(3, 1);
    // 10 ms of CPU and 5 ms of main thread per frame at the deepest exit: outside the model, 7 ms of CPU and 2 ms of
    // main thread are paid at every exit. One core: CPU time limits. Four cores: the main thread limits.
    const oneCore = cameraLoadFromMeasuredCost(model, 8, { cpuMs: 10, mainMs: 5 }, 1);
    expect(1_000 / (oneCore.capacityByExit[0] as number)).toBeCloseTo(7.5, 1);
    expect(1_000 / (oneCore.capacityByExit[2] as number)).toBeCloseTo(10, 1);
    const fourCores = cameraLoadFromMeasuredCost(model, 8, { cpuMs: 10, mainMs: 5 }, 4);
    expect(1_000 / (fourCores.capacityByExit[0] as number)).toBeCloseTo(2.5, 1);
    expect(1_000 / (fourCores.capacityByExit[2] as number)).toBeCloseTo(5, 1);
  });

  it('rejects costs that are not positive', () => {
    expect(() => cameraLoadFromCosts([])).toThrow(RangeError);
    expect(() => cameraLoadFromCosts([1, 0])).toThrow(RangeError);
  });

  it('never bursts below 1.2 x what the deepest exit sustains, whatever the trials said', () => {
    expect(burstRateFloor({ capacityByExit: [287, 265, 187] })).toBeCloseTo(224.4, 9);
  });

  it('bursts from 5 s, for 5 s every 10 s', () => {
    expect([0, 4_999, 5_000, 9_999, 10_000, 15_500, 24_000, 29_999].map(inBurst)).toEqual([false, false, true, true, false, true, false, true]);
  });
});

describe('trial bursts (calibration)', () => {
  const trial = (rate: number, shares: { onTime: number; shallow: number }) => ({ rate, frames: 300, answered: 300, onTime: Math.round(300 * shares.onTime), busiestShallow: Math.round(300 * shares.shallow) });

  it('fits when one shallower exit took a broad share and the flow stayed on time', () => {
    expect(judgeProbe(trial(100, { onTime: 0.97, shallow: 0.4 }))).toBe('fits');
    expect(judgeProbe(trial(100, { onTime: 1, shallow: 0.1 }))).toBe('too-light');
    // 20% at exit 1 and 20% at exit 2 is not 25% at one of them.
    expect(judgeProbe(trial(100, { onTime: 1, shallow: 0.2 }))).toBe('too-light');
    expect(judgeProbe(trial(100, { onTime: 0.85, shallow: 1 }))).toBe('too-heavy');
    // Misses with depth kept: the controller was not pushed to give depth up yet, so heavier, not lighter.
    expect(judgeProbe(trial(100, { onTime: 0.9, shallow: 0.1 }))).toBe('too-light');
    // Swamped: heavy, whatever the exits.
    expect(judgeProbe(trial(100, { onTime: 0.7, shallow: 0.1 }))).toBe('too-heavy');
    // Nothing answered at all (the service stalled): heavy, never a fit.
    expect(judgeProbe({ rate: 100, frames: 0, answered: 0, onTime: 0, busiestShallow: 0 })).toBe('too-heavy');
  });

  it('steps away from a verdict, then halves the gap (geometrically) between a light and a heavy try', () => {
    const light = trial(100, { onTime: 1, shallow: 0.1 });
    const heavy = trial(200, { onTime: 0.6, shallow: 1 });
    expect(nextBurstRate([light])).toBeCloseTo(125);
    expect(nextBurstRate([heavy])).toBeCloseTo(160);
    expect(nextBurstRate([light, heavy])).toBeCloseTo(Math.sqrt(100 * 200));
    expect(() => nextBurstRate([])).toThrow(RangeError);
  });

  it('looks for the lightest burst that fits, and settles on it', () => {
    const light = trial(100, { onTime: 1, shallow: 0.1 });
    const heavy = trial(200, { onTime: 0.6, shallow: 1 });
    const fit = (rate: number) => trial(rate, { onTime: 0.96, shallow: 0.5 });
    // A fit with nothing lighter tried: settled there.
    expect(burstSearchSettled([fit(150)])).toBe(true);
    expect(chosenBurstRate([heavy, fit(150)])).toBe(150);
    // A fit far above a light try: try halfway between, keep the lightest fit.
    expect(burstSearchSettled([light, fit(150)])).toBe(false);
    expect(nextBurstRate([light, fit(150)])).toBeCloseTo(Math.sqrt(100 * 150));
    expect(chosenBurstRate([light, fit(150), fit(122)])).toBe(122);
    expect(burstSearchSettled([light, fit(150), fit(108)])).toBe(true);
    // Halfway was light: the gap narrows from below; out of tries, the lightest fit is run.
    expect(nextBurstRate([light, fit(150), trial(122, { onTime: 1, shallow: 0.1 })])).toBeCloseTo(Math.sqrt(122 * 150));
    expect(chosenBurstRate([light, fit(150), trial(122, { onTime: 1, shallow: 0.1 })])).toBe(150);
    // No fit: the next try is what runs.
    expect(chosenBurstRate([light, heavy])).toBeCloseTo(Math.sqrt(100 * 200));
    expect(burstSearchSettled([light, heavy])).toBe(false);
  });
});

describe('bursts during the run', () => {
  const counts = (ok: number, late: number, shed: number, exits: Record<string, number>) => ({ outcomes: { ok, late, shed, error: 0 }, exits });

  it('counts a burst between two snapshots: frames, answered, on time, the busiest shallower exit', () => {
    const before = counts(100, 2, 3, { '1': 5, '2': 10, '3': 87 });
    const after = counts(380, 10, 13, { '1': 25, '2': 110, '3': 255 });
    expect(outcomeBetween(300, before, after, 3)).toEqual({ rate: 300, frames: 298, answered: 288, onTime: 280, busiestShallow: 100 });
  });

  it('steps the next burst heavier when the deepest exit kept it, lighter when deadlines gave way, else keeps it', () => {
    const burst = (onTime: number, shallow: number) => ({ rate: 200, frames: 1_000, answered: 1_000, onTime: 1_000 * onTime, busiestShallow: 1_000 * shallow });
    // 20% from a shallower exit: a trial would call it a fit (25% is close), a run's burst needs 35%: a step up.
    expect(nextLiveBurstRate(burst(0.99, 0.2))).toBeCloseTo(250);
    // The deepest exit kept nearly all of it: two steps up.
    expect(nextLiveBurstRate(burst(0.99, 0.05))).toBeCloseTo(312.5);
    expect(nextLiveBurstRate(burst(0.85, 0.6))).toBeCloseTo(160);
    expect(nextLiveBurstRate(burst(0.97, 0.4))).toBe(200);
    // A run's burst at 91% on time, depth given up: within what the run promises (90%), kept.
    expect(nextLiveBurstRate(burst(0.91, 0.4))).toBe(200);
  });

  it('never steps past halfway to a rate the run already showed too heavy or too light', () => {
    const burst = (rate: number, onTime: number, shallow: number) => ({ rate, frames: 1_000, answered: 1_000, onTime: 1_000 * onTime, busiestShallow: 1_000 * shallow });
    // 416 was too light and 520 too heavy: from 520 the next is halfway back (465), not 416 again.
    expect(nextLiveBurstRate(burst(520, 0.85, 0.5), { light: 416 })).toBeCloseTo(Math.sqrt(416 * 520));
    expect(nextLiveBurstRate(burst(416, 0.99, 0.05), { heavy: 480 })).toBeCloseTo(Math.sqrt(416 * 480));
    // Bounds on the far side of the step do not hold it back.
    expect(nextLiveBurstRate(burst(416, 0.99, 0.2), { heavy: 1_000 })).toBeCloseTo(520);
    expect(nextLiveBurstRate(burst(520, 0.85, 0.5), { light: 300 })).toBeCloseTo(416);
  });
});


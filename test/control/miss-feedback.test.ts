import { describe, expect, it } from 'vitest';
import { ExitController } from '../../src/control/exit-controller.ts';
import { LatencyEstimator } from '../../src/control/latency-estimator.ts';
import { MissFeedback } from '../../src/control/miss-feedback.ts';
import { MODEL, policy, profile } from './fixtures.ts';

const PERIOD = 250;
/** Arrivals 8 ms apart: a calm controller plans exit 3 of 4 for them (the 0.9 budget, in batches of 4). */
const GAP_MS = 8;

/** One period of `frames` outcomes, `misses` of them missed, with the core busy `busyMs` of it; then the scale. */
function period(feedback: MissFeedback, startTs: number, frames: number, misses: number, busyMs: number, otherShare = 0): number {
  for (let i = 0; i < frames; i++) feedback.observeOutcome(i >= misses, startTs + (i * PERIOD) / frames);
  feedback.observeInference(busyMs);
  return feedback.scale(startTs + PERIOD, otherShare);
}

describe('MissFeedback', () => {
  it('shrinks the budget after a period with too many misses on a busy core, and not on an idle one', () => {
    const busy = new MissFeedback();
    busy.scale(0, 0);
    expect(period(busy, 0, 100, 5, 200)).toBeCloseTo(0.8, 9);
    expect(period(busy, PERIOD, 100, 5, 200)).toBeCloseTo(0.64, 9);
    // Other work counts toward busy: 100 ms of inference and 0.5 of the core taken by the rest.
    const shared = new MissFeedback();
    shared.scale(0, 0);
    expect(period(shared, 0, 100, 5, 100, 0.5)).toBeCloseTo(0.8, 9);
    // Misses while the core idles half the time: lower exits would not help them.
    const idle = new MissFeedback();
    idle.scale(0, 0);
    expect(period(idle, 0, 100, 50, 100)).toBe(1);
  });

  it('tolerates one stray miss a period and the allowed share', () => {
    const feedback = new MissFeedback({ allowedMissShare: 0.01 });
    feedback.scale(0, 0);
    expect(period(feedback, 0, 20, 1, 250)).toBe(1);
    // 200 frames: 1 + 2 allowed, a third miss too many.
    expect(period(feedback, PERIOD, 200, 3, 250)).toBe(1);
    expect(period(feedback, 2 * PERIOD, 200, 4, 250)).toBeCloseTo(0.8, 9);
  });

  it('grows back a step a period, over quiet gaps too, between its floor and 1', () => {
    const feedback = new MissFeedback({ minScale: 0.3 });
    feedback.scale(0, 0);
    let t = 0;
    for (let i = 0; i < 10; i++, t += PERIOD) period(feedback, t, 100, 50, 250);
    expect(feedback.scale(t, 0)).toBeCloseTo(0.3, 9);
    expect(period(feedback, t, 100, 0, 250)).toBeCloseTo(0.32, 9);
    t += PERIOD;
    // Ten quiet periods with no plan between them: ten steps at once.
    expect(feedback.scale(t + 10 * PERIOD, 0)).toBeCloseTo(0.52, 9);
    expect(feedback.scale(t + 1_000 * PERIOD, 0)).toBe(1);
  });
});

describe('ExitController with miss feedback', () => {
  // Median stage costs at batch 1: [2, 3, 4, 6] ms (exits end 2, 5, 9, 15 ms after the start).
  const limits = { maxBatch: 4, queueCapacity: 64 };
  const frame = (id: string, captureTs: number) => ({ id, captureTs, policy: policy({ deadlineMs: 400, confidenceStop: 'none' }) });

  /**
   * Frames every GAP_MS from `fromTs` to `toTs`, each reported on time unless `missEvery` says; a
   * plan each period. The last plan's cap.
   */
  function drive(c: ExitController, fromTs: number, toTs: number, missEvery?: number): number {
    let cap = 0;
    for (let t = fromTs, i = 0; t < toTs; t += GAP_MS, i++) {
      c.admit(t, 0, 64);
      c.observeOutcome(missEvery === undefined || i % missEvery !== 0, t);
      if (t % PERIOD < GAP_MS) {
        const plan = c.plan([frame(`f${i}`, t)], t, limits);
        // The core was busy through the period.
        c.observe(plan, { startTs: t, endTs: t + PERIOD, stagesMs: PERIOD, freeTs: t + PERIOD });
        cap = plan.batch[0]?.capExit ?? 0;
      }
    }
    return cap;
  }

  it('plans lower exits while frames miss on a busy core, and climbs back once they stop', () => {
    const model = () => new ExitController({ model: MODEL, latency: new LatencyEstimator(profile(1.1)) });
    const calm = model();
    expect(drive(calm, 0, 3_000)).toBe(3);
    const missing = model();
    expect(drive(missing, 0, 3_000, 4)).toBe(1);
    expect(missing.budgetScale).toBeLessThan(0.5);
    // Misses stop: the budget grows back to where the calm controller plans.
    expect(drive(missing, 3_000, 20_000)).toBe(3);
    expect(missing.budgetScale).toBe(1);
  });
});

import { describe, expect, it } from 'vitest';
import { planBatch } from '../../src/control/plan-batch.ts';
import type { QueuedFrame } from '../../src/control/planner-types.ts';
import { decideAfterExit } from '../../src/control/continuation.ts';
import { chooseExit, preferredExit, type ExitPolicy } from '../../src/control/exit-policy.ts';
import { LatencyEstimator } from '../../src/control/latency-estimator.ts';
import { MODEL, policy, profile } from './fixtures.ts';
import { simulate, summarize } from './simulated-queue.ts';

// Median stage costs at batch n: [2, 3, 4, 6] × (0.6 + 0.4·n) ms, so exit 3 costs 9 ms alone and 19.8 ms for 4 frames.
const latency = new LatencyEstimator(profile(1.1));
const NOW = 10_000;
const options = { maxBatch: 4, queueCapacity: 64 };

function fixed(exit: number, over: Partial<ExitPolicy> = {}): ExitPolicy {
  return policy({ mode: 'fixed', exit, ...over });
}

function frames(count: number, p: ExitPolicy, age = 0, prefix = 'f'): QueuedFrame[] {
  return Array.from({ length: count }, (_, i) => ({ id: `${prefix}${i}`, captureTs: NOW - age, policy: p }));
}

describe('policy mode fixed: every frame runs exactly to the pinned exit', () => {
  it.each([
    { exit: 1, expected: 1 },
    { exit: 3, expected: 3 },
    { exit: 4, expected: 4 },
    // edgeke check rejects it; the runtime still never asks for an exit the model lacks.
    { exit: 9, expected: 4 },
  ])('pins exit $exit → preferred exit $expected', ({ exit, expected }) => {
    expect(preferredExit(MODEL, fixed(exit))).toBe(expected);
  });

  it('runs a lone frame to the pinned exit, with no confidence stop even where the flow asks for one always', () => {
    const plan = planBatch(frames(1, fixed(2, { confidenceStop: '0.95', confidenceStopWhen: 'always' })), MODEL, latency, { now: NOW }, options);
    expect(plan.batch).toMatchObject([{ capExit: 2, stopWhenConfident: false, late: false, predictedFinishTs: NOW + 5 }]);
  });

  it('never lowers a frame under load: what cannot make it at the pinned exit is shed, with the reason', () => {
    // Deadline mode would lower these six frames and shed none; pinned at exit 3 only one batch of 4 fits 20 ms.
    const queue = frames(6, fixed(3));
    const lowered = planBatch(frames(6, policy()), MODEL, latency, { now: NOW }, options);
    expect(lowered.shed).toEqual([]);
    const plan = planBatch(queue, MODEL, latency, { now: NOW }, options);
    expect(plan.batch.map((f) => f.capExit)).toEqual([3, 3, 3, 3]);
    expect(plan.shed).toEqual([
      { id: 'f4', reason: 'overload' },
      { id: 'f5', reason: 'overload' },
    ]);
    expect(plan.waiting).toEqual([]);
  });

  it('answers late at the pinned exit when the flow answers late', () => {
    const plan = planBatch(frames(6, fixed(3, { latePolicy: 'answer-late' })), MODEL, latency, { now: NOW }, { ...options, batchSizes: [4] });
    expect(plan.shed).toEqual([]);
    expect(plan.batch.map((f) => f.capExit)).toEqual([3, 3, 3, 3]);
    const stillQueued = planBatch(plan.waiting, MODEL, latency, { now: plan.predictedBatchEndTs }, options);
    expect(stillQueued.batch).toMatchObject([
      { capExit: 3, late: true },
      { capExit: 3, late: true },
    ]);
  });

  it.each([
    { name: 'exit 3 fits the 10 ms left', age: 10, late: 'shed' as const, expected: { shed: [], batch: [{ id: 'old0', capExit: 3, late: false }] } },
    // 8 ms left: exit 1 (2 ms) would fit, the pinned exit 3 (9 ms) does not.
    { name: 'exit 1 would fit, exit 3 not', age: 12, late: 'shed' as const, expected: { shed: [{ id: 'old0', reason: 'no-slack' }] } },
    { name: 'exit 3 does not fit, answered late', age: 12, late: 'answer-late' as const, expected: { shed: [], batch: [{ id: 'old0', capExit: 3, late: true }] } },
  ])('a frame for which $name', ({ age, late, expected }) => {
    const p = fixed(3, { latePolicy: late });
    // A fresh frame of a looser flow is queued too, so a hopeless frame is not run as the idle runtime's probe.
    const queue = [...frames(1, p, age, 'old'), ...frames(1, fixed(3, { deadlineMs: 500 }), 0, 'fresh')];
    expect(planBatch(queue, MODEL, latency, { now: NOW }, { ...options, batchSizes: [1] })).toMatchObject(expected);
  });

  it('runs a hopeless lone frame as the probe at the pinned exit, not at exit 1', () => {
    const plan = planBatch(frames(1, fixed(3), 12), MODEL, latency, { now: NOW }, options);
    expect(plan.batch).toMatchObject([{ capExit: 3, probe: true }]);
  });

  it.each([
    { name: 'fits', age: 0, expected: { kind: 'run', capExit: 3 } },
    { name: 'misses, shed', age: 12, expected: { kind: 'shed', reason: 'no-slack' } },
    { name: 'misses, answered late', age: 12, late: 'answer-late' as const, expected: { kind: 'late', capExit: 3 } },
  ])('chooseExit for one frame that $name', ({ age, late, expected }) => {
    const p = fixed(3, late === undefined ? {} : { latePolicy: late });
    expect(chooseExit(MODEL, latency, p, { captureTs: NOW - age }, NOW)).toMatchObject(expected);
  });

  it('keeps running to the pinned exit while the batch runs: no confident stop, no stop for the deadline', () => {
    const frame = { policy: fixed(3, { confidenceStop: '0.95' }), deadlineTs: NOW + 1, capExit: 3, stopWhenConfident: true };
    expect(decideAfterExit(MODEL, latency, frame, 1, 0.999, NOW, 1)).toEqual({ action: 'continue' });
    expect(decideAfterExit(MODEL, latency, frame, 2, 0.999, NOW, 4)).toEqual({ action: 'continue' });
    expect(decideAfterExit(MODEL, latency, frame, 3, 0.1, NOW + 5, 4)).toEqual({ action: 'stop', reason: 'cap', answer: 'exit' });
  });

  describe('under offered load (virtual time)', () => {
    // Exit 2 serves about 3x the final exit's rate: at 2x every frame fits; at 5x about 40% must go.
    const deadlineMs = 100;
    const planner = { maxBatch: 4, queueCapacity: 64, resultsAt: 'exit' as const };
    const flow = fixed(2, { deadlineMs, riskQuantile: 0.95, confidenceStop: '0.95', confidenceStopWhen: 'always' });

    it.each([2, 5])('at %d x final-exit capacity every answer comes from exit 2, and the admitted are on time', (load) => {
      const report = simulate({ load, durationMs: 5_000, policy: flow, planner });
      const r = summarize(report, deadlineMs);
      const answered = report.frames.filter((f) => f.outcome !== 'shed');
      expect(answered.length).toBeGreaterThan(100);
      expect(new Set(answered.map((f) => f.exit))).toEqual(new Set([2]));
      expect(r.undecided).toBe(0);
      // A pinned frame has no shallower exit to fall back on while it runs, and shedding is judged at the median (only
      // the hopeless go): under overload the frames kept at the edge of their deadline miss now and then.
      expect(r.admittedAttainment).toBeGreaterThanOrEqual(load === 2 ? 0.99 : 0.95);
      if (load === 2) expect(r.shedRate).toBeLessThan(0.01);
      else expect(r.shedRate).toBeGreaterThan(0.2);
    });
  });
});

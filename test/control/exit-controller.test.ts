import { describe, expect, it } from 'vitest';
import { ExitController } from '../../src/control/exit-controller.ts';
import { planBatch } from '../../src/control/plan-batch.ts';
import type { ExitPolicy } from '../../src/control/exit-policy.ts';
import { LatencyEstimator } from '../../src/control/latency-estimator.ts';
import { MODEL, policy, profile } from './fixtures.ts';

// Median stage costs at batch 1: [2, 3, 4, 6] ms (exits end 2, 5, 9, 15 ms after the start); plans at p50.
const NOW = 10_000;
const limits = { maxBatch: 4, queueCapacity: 64 };

function controller(batchOverheadMs = 0): ExitController {
  return new ExitController({ model: MODEL, latency: new LatencyEstimator(profile(1.1)), batchOverheadMs });
}

function frame(id: string, captureTs: number, over: Partial<ExitPolicy> = {}) {
  return { id, captureTs, policy: policy(over) };
}

describe('ExitController', () => {
  it('refuses a frame whose queue is full, and counts every arrival toward the rate it plans with', () => {
    const c = controller();
    expect(c.admit(NOW, 63, 64)).toBeNull();
    expect(c.admit(NOW + 1, 64, 64)).toBe('queue-full');
    // Arrivals every millisecond: the planner now reserves room for the frames expected next, so a queue of 12 that
    // alone would fit at exit 2 is planned shallower.
    const queue = Array.from({ length: 12 }, (_, i) => frame(`f${i}`, NOW + 40));
    const alone = controller().plan(queue, NOW + 40, limits);
    for (let t = NOW + 2; t <= NOW + 40; t++) c.admit(t, 0, 64);
    const busy = c.plan(queue, NOW + 40, limits);
    const capSum = (plan: typeof busy): number => plan.batch.reduce((sum, f) => sum + f.capExit, 0);
    expect(capSum(busy)).toBeLessThan(capSum(alone));
  });

  it('binds each plan to the runner: deepest cap, vote flag and the per-exit callback', () => {
    const c = controller();
    const plan = c.plan([frame('a', NOW, { vote: true, confidenceStop: '0.95' })], NOW, limits);
    expect(plan.batch).toMatchObject([{ id: 'a', capExit: 4 }]);
    expect(plan).toMatchObject({ lastExit: 4, vote: true });
    // Idle machine, 'always' stops (fixture policy): confident at exit 2 stops there and is answered from it.
    expect(plan.decide(0, 2, 0.95, NOW + 5)).toBe('stop');
    expect(plan.answerBy(0, { exit: 2, exits: [{ confidence: 0.5 }, { confidence: 0.95 }] }, NOW + 5)).toBe('exit');
  });

  it.each([
    { name: 'passed no threshold on the way', confidences: [0.5, 0.5, 0.5, 0.5], expected: 'vote' },
    { name: 'passed exit 2 (stops were off)', confidences: [0.5, 0.95, 0.5, 0.5], expected: 'exit' },
  ])('answers a frame the runner stopped at the last exit by the vote only when it $name', ({ confidences, expected }) => {
    const plan = controller().plan([frame('a', NOW, { vote: true, confidenceStop: '0.95', confidenceStopWhen: 'busy' })], NOW, limits);
    expect(plan.answerBy(0, { exit: 4, exits: confidences.map((confidence) => ({ confidence })) }, NOW + 15)).toBe(expected);
  });

  it('learns batch overhead and plan error from what batches showed, and plans with them', () => {
    const c = controller(1);
    const first = c.plan([frame('a', NOW)], NOW, limits);
    expect(first.batch[0]?.capExit).toBe(4);
    expect(first.predictedBatchEndTs).toBe(NOW + 16); // 1 ms overhead + 15 ms
    // The batch took 10 ms of wall time for 5 ms of stages, and the runtime was free only 4 ms after the plan said.
    c.observe(first, { answers: [{ exits: [{ confidence: 0.5, classIndex: 0 }] }], startTs: NOW, endTs: NOW + 10, stagesMs: 5, freeTs: NOW + 20 });
    const later = NOW + 1_000;
    const next = c.plan([frame('b', later)], later, limits);
    // Overhead 1 → 1.6 ms (a fifth of the way to the 4 ms a single batch may count); 4 ms kept in reserve: exit 4
    // (1.6 + 15 + 4 > 20) no longer fits, exit 3 does.
    expect(next.batch[0]?.capExit).toBe(3);
    expect(next.predictedBatchEndTs - later).toBeCloseTo(10.6, 9);
  });

  it('learns confidence pass rates from the answers, and a failed batch teaches only the plan error', () => {
    const c = controller();
    const plan = c.plan([frame('a', NOW)], NOW, limits);
    c.observe(plan, { startTs: NOW, endTs: NOW + 1, stagesMs: 0 });
    expect(c.passRates.passRate(1, '0.95')).toBe(0);
    const answers = Array.from({ length: 40 }, (_, i) => ({ exits: [{ confidence: i % 4 === 0 ? 0.99 : 0.5, classIndex: 0 }] }));
    c.observe(plan, { answers, startTs: NOW, endTs: NOW + 1, stagesMs: 1 });
    expect(c.passRates.passRate(1, '0.95')).toBeCloseTo(0.25, 1);
  });
});

describe('ExitController under a backlog', () => {
  // Batches of 4 at exit 4 take 33 ms: a queue of 24 frames with 200 ms deadlines is a backlog, not a lost cause.
  const backlog = (count: number, captureTs = NOW) => Array.from({ length: count }, (_, i) => frame(`q${i}`, captureTs + i * 0.01, { deadlineMs: 200 }));

  it('runs the batch the last plan put second, as planned, while it holds', () => {
    const c = controller();
    const first = c.plan(backlog(24), NOW, limits);
    expect(first.next?.batch).toHaveLength(4);
    const second = c.plan(first.waiting, first.predictedBatchEndTs, limits);
    expect(second.batch).toEqual(first.next?.batch);
    expect(second.predictedBatchEndTs).toBe(first.next?.predictedBatchEndTs);
    expect(second.waiting).toHaveLength(first.waiting.length - 4);
    // Then it plans afresh: a batch reused is never reused again.
    const third = c.plan(second.waiting, second.predictedBatchEndTs, limits);
    expect(third.next).toBeDefined();
  });

  it.each([
    { name: 'a more urgent frame arrived', change: (waiting: ReturnType<typeof backlog>) => [...waiting, frame('urgent', NOW + 33, { deadlineMs: 60 })], at: 0 },
    { name: 'the queue is short', change: (waiting: ReturnType<typeof backlog>) => waiting.slice(0, 6), at: 0 },
    { name: 'one of its frames left the queue', change: (waiting: ReturnType<typeof backlog>) => waiting.slice(1), at: 0 },
    { name: 'the previous batch ended so late that its frames would miss', change: (waiting: ReturnType<typeof backlog>) => waiting, at: 140 },
  ])('plans afresh when $name', ({ change, at }) => {
    const c = controller();
    const first = c.plan(backlog(24), NOW, limits);
    const second = c.plan(change(first.waiting), first.predictedBatchEndTs + at, limits);
    // A fresh plan says what comes after it; a batch run as planned does not.
    expect(second.next).toBeDefined();
  });
});

describe('ExitController with a long queue', () => {
  it('plans from the head of a long queue in deadline order as from the whole queue, and keeps the tail waiting', () => {
    // 300 frames with 2 s deadlines; the head it plans from is 4 horizons (32 frames at maxBatch 4).
    const queue = Array.from({ length: 300 }, (_, i) => frame(`q${i}`, NOW + i, { deadlineMs: 2_000 }));
    const c = new ExitController({ model: MODEL, latency: new LatencyEstimator(profile(1.1)), measuresArrivals: false });
    const roomy = { ...limits, queueCapacity: 1_000 };
    const plan = c.plan(queue, NOW + 300, roomy);
    const whole = planBatch(queue, MODEL, c.latency, { now: NOW + 300, confidence: c.passRates }, { ...roomy, batchOverheadMs: 0, finishMarginMs: 0 });
    expect(whole.waiting.length).toBeGreaterThan(250);
    expect(plan.batch).toEqual(whole.batch);
    expect(plan.shed).toEqual(whole.shed);
    expect(plan.waiting.map((f) => f.id)).toEqual(whole.waiting.map((f) => f.id));
  });

  it('plans from the whole queue when it is not in deadline order', () => {
    const queue = Array.from({ length: 300 }, (_, i) => frame(`q${i}`, NOW + i, { deadlineMs: 2_000 }));
    queue.push(frame('urgent', NOW + 300, { deadlineMs: 50 }));
    const c = new ExitController({ model: MODEL, latency: new LatencyEstimator(profile(1.1)), measuresArrivals: false });
    expect(c.plan(queue, NOW + 300, { ...limits, queueCapacity: 1_000 }).batch[0]?.id).toBe('urgent');
  });
});

import { describe, expect, it } from 'vitest';
import { planBatch } from '../../src/control/plan-batch.ts';
import type { BatchPlan, QueuedFrame } from '../../src/control/planner-types.ts';
import type { ExitPolicy } from '../../src/control/exit-policy.ts';
import { LatencyEstimator } from '../../src/control/latency-estimator.ts';
import { MODEL, policy, profile } from './fixtures.ts';

// Median stage costs at batch n: [2, 3, 4, 6] × (0.6 + 0.4·n) ms; plans at p50 unless a test says otherwise.
const latency = new LatencyEstimator(profile(1.1));
const NOW = 10_000;

function frames(count: number, over: Partial<ExitPolicy> = {}, age = 0, prefix = 'f'): QueuedFrame[] {
  return Array.from({ length: count }, (_, i) => ({ id: `${prefix}${i}`, captureTs: NOW - age, policy: policy(over) }));
}

function allIds(plan: BatchPlan): string[] {
  return [...plan.batch.map((f) => f.id), ...plan.shed.map((s) => s.id), ...plan.waiting.map((f) => f.id)].sort();
}

const options = { maxBatch: 4, queueCapacity: 64 };

describe('planBatch', () => {
  it('plans nothing for an empty queue', () => {
    expect(planBatch([], MODEL, latency, { now: NOW }, options)).toEqual({
      startTs: NOW,
      batch: [],
      shed: [],
      waiting: [],
      predictedBatchEndTs: NOW,
    });
  });

  it('runs a lone fresh frame to its preferred exit', () => {
    const plan = planBatch(frames(1), MODEL, latency, { now: NOW }, options);
    expect(plan.batch).toMatchObject([{ id: 'f0', capExit: 4, late: false, deadlineTs: NOW + 20, predictedFinishTs: NOW + 15 }]);
    expect(plan.predictedBatchEndTs).toBe(NOW + 15);
  });

  it('starts when the runtime is free, which eats into the slack', () => {
    const plan = planBatch(frames(1), MODEL, latency, { now: NOW, busyUntilTs: NOW + 8 }, options);
    expect(plan.startTs).toBe(NOW + 8);
    expect(plan.batch[0]?.capExit).toBe(3); // 12 ms left: exit 3 (9 ms) fits, exit 4 (15 ms) does not
  });

  it('gives frames waiting behind others less slack, so shallower exits', () => {
    const queue = frames(6);
    const plan = planBatch(queue, MODEL, latency, { now: NOW }, options);
    const alone = planBatch(frames(1), MODEL, latency, { now: NOW }, options).batch[0]?.capExit ?? 0;
    expect(plan.shed).toEqual([]);
    for (const f of plan.batch) {
      expect(f.capExit).toBeLessThan(alone);
      expect(f.predictedFinishTs).toBeLessThanOrEqual(f.deadlineTs);
    }
    expect(allIds(plan)).toEqual(queue.map((f) => f.id).sort());
  });

  it('moves frames to exit 1 before it sheds any', () => {
    // 12 frames, batches of 4 at exit 1 cost 4.4 ms each: 13.2 ms in all, inside the 20 ms deadline.
    const plan = planBatch(frames(12), MODEL, latency, { now: NOW }, options);
    expect(plan.shed).toEqual([]);
    expect(plan.batch.every((f) => f.capExit <= 2)).toBe(true);
  });

  it('sheds the hopeless under overload, and only as many as it must', () => {
    // 24 frames: at exit 1, four batches of 4 take 17.6 ms and a fifth of one frame 2 ms more: 17 fit 20 ms.
    const plan = planBatch(frames(24), MODEL, latency, { now: NOW }, { ...options, horizon: 32 });
    expect(plan.shed).toHaveLength(7);
    expect(plan.shed.every((s) => s.reason === 'overload')).toBe(true);
    expect(plan.batch).toHaveLength(4);
    expect(plan.waiting).toHaveLength(13);
    expect(plan.batch.every((f) => f.capExit === 1 && f.predictedFinishTs <= f.deadlineTs)).toBe(true);
    expect(allIds(plan)).toHaveLength(24);
  });

  it('sheds the hopeless but probes with the one most likely to make it when nothing else would run', () => {
    const queue = [...frames(1, {}, 19, 'older'), ...frames(1, {}, 18.5, 'newer'), ...frames(1, {}, 30, 'expired')];
    const plan = planBatch(queue, MODEL, latency, { now: NOW }, options);
    expect(plan.batch).toMatchObject([{ id: 'newer0', capExit: 1, probe: true, late: false }]);
    expect(plan.shed).toEqual([
      { id: 'expired0', reason: 'no-slack' },
      { id: 'older0', reason: 'no-slack' },
    ]);
  });

  it('recovers from a latency model made too pessimistic by a stall', () => {
    const estimator = new LatencyEstimator(profile(1.1));
    for (let i = 0; i < 10; i++) estimator.observe({ stage: 1, batchSize: 1, ms: 200 });
    const tight = frames(1, { deadlineMs: 8 });
    expect(planBatch(tight, MODEL, estimator, { now: NOW }, options).batch[0]?.probe).toBe(true);
    // The probes' observations (the machine is fast again) bring the estimate back.
    for (let i = 0; i < 30; i++) estimator.observe({ stage: 1, batchSize: 1, ms: 2 });
    expect(planBatch(tight, MODEL, estimator, { now: NOW }, options).batch[0]?.probe).toBe(false);
  });

  it('leaves frames beyond the planning horizon for a later plan', () => {
    const plan = planBatch(frames(24), MODEL, latency, { now: NOW }, { ...options, horizon: 16 });
    expect(plan.shed).toEqual([]);
    expect(plan.waiting).toHaveLength(20);
  });

  it('reserves room at exit 1 for the frames expected to arrive', () => {
    const queue = frames(4, { deadlineMs: 100 });
    const depth = (plan: BatchPlan): number => plan.batch.reduce((sum, f) => sum + f.capExit, 0);
    const idle = planBatch(queue, MODEL, latency, { now: NOW }, options);
    const busy = planBatch(queue, MODEL, latency, { now: NOW, arrivalRatePerMs: 0.5 }, options);
    expect(depth(idle)).toBe(16);
    expect(depth(busy)).toBeLessThan(depth(idle));
    expect(busy.shed).toEqual([]);
  });

  it('sets the work budget by the sustained arrival rate, not by the recent burst', () => {
    const queue = frames(4, { deadlineMs: 100 });
    const depth = (plan: BatchPlan): number => plan.batch.reduce((sum, f) => sum + f.capExit, 0);
    const burst = { now: NOW, arrivalRatePerMs: 0.2 };
    const burstAtLowLoad = planBatch(queue, MODEL, latency, { ...burst, sustainedArrivalRatePerMs: 0.02 }, options);
    const sustainedBurst = planBatch(queue, MODEL, latency, { ...burst, sustainedArrivalRatePerMs: 0.2 }, options);
    expect(depth(burstAtLowLoad)).toBeGreaterThan(depth(sustainedBurst));
    expect(depth(planBatch(queue, MODEL, latency, burst, options))).toBe(depth(sustainedBurst));
  });

  it('budgets only what the work around inference leaves of the core', () => {
    // Frames arrive every 20 ms on average: alone, the whole budget affords the deepest exit.
    const queue = frames(4, { deadlineMs: 100 });
    const depth = (plan: BatchPlan): number => plan.batch.reduce((sum, f) => sum + f.capExit, 0);
    const state = { now: NOW, arrivalRatePerMs: 0.05, sustainedArrivalRatePerMs: 0.05 };
    const alone = planBatch(queue, MODEL, latency, state, options);
    const shared = planBatch(queue, MODEL, latency, state, { ...options, otherWorkShare: 0.6 });
    const taken = planBatch(queue, MODEL, latency, state, { ...options, otherWorkShare: 1 });
    expect(depth(alone)).toBe(16);
    expect(depth(shared)).toBeLessThan(depth(alone));
    // Nothing left for inference: every frame at exit 1, none shed (the deadline still allows them all).
    expect(taken.batch.map((f) => f.capExit)).toEqual([1, 1, 1, 1]);
    expect(taken.shed).toEqual([]);
  });

  it('counts frames waiting upstream of the decoder as a backlog to drain', () => {
    const queue = frames(4, { deadlineMs: 100 });
    const depth = (plan: BatchPlan): number => plan.batch.reduce((sum, f) => sum + f.capExit, 0);
    const state = { now: NOW, arrivalRatePerMs: 0.05, sustainedArrivalRatePerMs: 0.05 };
    const clear = planBatch(queue, MODEL, latency, state, options);
    const backedUp = planBatch(queue, MODEL, latency, state, { ...options, waitingUpstream: 40 });
    expect(depth(backedUp)).toBeLessThan(depth(clear));
  });

  it('takes no frame a second step up its ladder while another still waits for its first', () => {
    // Five frames 2 ms old and a fresh one, frames arriving at 0.1/ms: not every frame can take its second step
    // (cap 3 on this model's ladder of caps), so none does. Raising the head anyway (caps 3, 3, 2, 2) took the time
    // the frames behind it needed.
    const queue = [...frames(1, {}, 0, 'h'), ...frames(5, {}, 2, 't')];
    const plan = planBatch(queue, MODEL, latency, { now: NOW, arrivalRatePerMs: 0.1 }, options);
    expect(plan.shed).toEqual([]);
    expect(plan.batch.map((f) => f.capExit)).toEqual([2, 2, 2, 2]);
  });

  it('adds the spreads of the batches queued behind each other in quadrature, not quantile on quantile', () => {
    // p95 = 1.5 x median. Twelve frames, three batches of four, 50 ms: the sum of three p95 batches at exit 3 would
    // miss, and two of the first batch's frames would drop to exit 2; independent spreads say all four fit.
    const spread = new LatencyEstimator(profile(1.5));
    const queue = frames(12, { deadlineMs: 50, riskQuantile: 0.95 });
    const plan = planBatch(queue, MODEL, spread, { now: NOW }, options);
    expect(plan.shed).toEqual([]);
    expect(plan.batch.map((f) => f.capExit)).toEqual([3, 3, 3, 3]);
    // The first batch alone is still planned at its own p95.
    expect(plan.predictedBatchEndTs - NOW).toBeCloseTo(spread.stagesMs(1, 3, 4, 0.95), 6);
  });

  it('marks the hopeless late instead when the flow answers late', () => {
    const plan = planBatch(frames(24, { latePolicy: 'answer-late' }), MODEL, latency, { now: NOW }, options);
    expect(plan.shed).toEqual([]);
    expect(plan.batch.every((f) => f.capExit === 1)).toBe(true);
    expect(allIds(plan)).toHaveLength(24);
  });

  it.each([
    { name: 'past its deadline', age: 25, late: 'shed' as const, expected: { shed: [{ id: 'f0', reason: 'no-slack' }] } },
    // Nothing else would run: it runs at exit 1 as a probe, so a too pessimistic latency model can learn it was wrong.
    { name: 'exit 1 alone cannot make it', age: 18.5, late: 'shed' as const, expected: { shed: [], batch: [{ capExit: 1, probe: true }] } },
    { name: 'answer late', age: 19, late: 'answer-late' as const, expected: { shed: [], batch: [{ capExit: 1, late: true }] } },
    { name: 'just fits exit 1', age: 18, late: 'shed' as const, expected: { shed: [], batch: [{ capExit: 1, late: false }] } },
  ])('a frame that is $name', ({ age, late, expected }) => {
    expect(planBatch(frames(1, { latePolicy: late }, age), MODEL, latency, { now: NOW }, options)).toMatchObject(expected);
  });

  it('sheds beyond the queue capacity, the latest deadlines first', () => {
    const queue = [...frames(2, { deadlineMs: 50 }, 0, 'loose'), ...frames(2, { deadlineMs: 30 }, 0, 'tight')];
    const plan = planBatch(queue, MODEL, latency, { now: NOW }, { ...options, queueCapacity: 3 });
    expect(plan.shed).toEqual([{ id: 'loose1', reason: 'queue-full' }]);
  });

  it('serves the tightest deadline first across flows', () => {
    const queue = [...frames(4, { deadlineMs: 200 }, 0, 'loose'), ...frames(4, { deadlineMs: 12 }, 0, 'tight')];
    const plan = planBatch(queue, MODEL, latency, { now: NOW }, options);
    expect(plan.batch.map((f) => f.id)).toEqual(['tight0', 'tight1', 'tight2', 'tight3']);
    expect(plan.waiting.map((f) => f.id)).toEqual(['loose0', 'loose1', 'loose2', 'loose3']);
  });

  it('never plans an accuracy-mode frame deeper than its target exit', () => {
    const plan = planBatch(frames(2, { mode: 'accuracy', accuracyTarget: 0.85, deadlineMs: 500 }), MODEL, latency, { now: NOW }, options);
    expect(plan.batch.map((f) => f.capExit)).toEqual([2, 2]);
  });

  it('plans with the risk quantile: p99 picks shallower exits than p50', () => {
    const p50 = planBatch(frames(4, { riskQuantile: 0.5 }), MODEL, latency, { now: NOW }, options);
    const p99 = planBatch(frames(4, { riskQuantile: 0.99 }), MODEL, latency, { now: NOW }, options);
    const depth = (plan: BatchPlan): number => plan.batch.reduce((sum, f) => sum + f.capExit, 0);
    expect(depth(p99)).toBeLessThan(depth(p50));
  });

  it('honours the batch sizes it may use', () => {
    const plan = planBatch(frames(6), MODEL, latency, { now: NOW }, { ...options, batchSizes: [2] });
    expect(plan.batch).toHaveLength(2);
  });

  it('predicts finishes at batch end unless told answers leave at their exit', () => {
    const queue = [...frames(1, { mode: 'accuracy', accuracyTarget: 0.8, deadlineMs: 100 }, 0, 'shallow'), ...frames(1, { deadlineMs: 100 }, 0, 'deep')];
    const atEnd = planBatch(queue, MODEL, latency, { now: NOW }, { ...options, batchSizes: [2] });
    const atExit = planBatch(queue, MODEL, latency, { now: NOW }, { ...options, batchSizes: [2], resultsAt: 'exit' });
    const shallowAt = (plan: BatchPlan): number => plan.batch.find((f) => f.id === 'shallow0')?.predictedFinishTs ?? 0;
    expect(shallowAt(atEnd)).toBeCloseTo(atEnd.predictedBatchEndTs, 9);
    expect(shallowAt(atExit)).toBeCloseTo(NOW + 2 * 1.4, 9); // stage 1 at batch 2
  });

  it('counts a fixed per-batch overhead', () => {
    const plan = planBatch(frames(1), MODEL, latency, { now: NOW }, { ...options, batchOverheadMs: 6 });
    expect(plan.batch[0]?.capExit).toBe(3); // 6 + 15 > 20, 6 + 9 fits
    expect(plan.predictedBatchEndTs).toBe(NOW + 15);
  });

  describe('confidence stops', () => {
    const confident = { confidenceStop: '0.95' as const, confidenceStopWhen: 'busy' as const };
    // Nine frames in ten pass exit 1's threshold: the later stages run for about one frame per batch.
    const rates = { passRate: (exit: number) => (exit === 1 ? 0.9 : 0) };
    const choices = (plan: BatchPlan): string[] => plan.batch.map((f) => `${f.capExit}${f.stopWhenConfident ? '+stop' : ''}`);

    it.each([
      { name: "'busy', idle machine: off, the frame runs to its preferred exit", count: 1, over: confident, expected: false },
      { name: "'busy', a queue that cannot all reach exit 4, nothing known of pass rates: off (saves nothing known)", count: 12, over: confident, expected: false, blind: true },
      { name: "'busy', a queue that cannot even reach exit 3 without them: on", count: 8, over: confident, expected: true },
      { name: "'always', idle machine: on", count: 1, over: { ...confident, confidenceStopWhen: 'always' as const }, expected: true },
      { name: "'none': never", count: 12, over: { confidenceStop: 'none' as const }, expected: false },
    ])('$name', ({ count, over, expected, blind }) => {
      const plan = planBatch(frames(count, over), MODEL, latency, { now: NOW, confidence: blind ? undefined : rates }, options);
      expect(plan.batch.length).toBeGreaterThan(0);
      expect(plan.batch.every((f) => f.stopWhenConfident === expected)).toBe(true);
    });

    it('plans frames that may stop early at their expected work, so a busy queue runs deeper', () => {
      const queue = frames(8, confident);
      const depth = (plan: BatchPlan): number => plan.batch.reduce((sum, f) => sum + f.capExit, 0);
      const blind = planBatch(queue, MODEL, latency, { now: NOW }, options);
      const informed = planBatch(queue, MODEL, latency, { now: NOW, confidence: rates }, options);
      expect(blind.shed).toEqual([]);
      expect(informed.shed).toEqual([]);
      expect(depth(informed)).toBeGreaterThan(depth(blind));
      expect(informed.batch.every((f) => f.predictedFinishTs <= f.deadlineTs)).toBe(true);
    });

    it('prefers a shallower cap to a stop that loses more accuracy', () => {
      // Four frames, 30 ms: all four would reach exit 4 with stops, but 90% stopped at exit 1 (at most 5% of them
      // wrong: 4.5 points) is worth less than exit 3 without stops (2 points below exit 4).
      const plan = planBatch(frames(4, { ...confident, deadlineMs: 30 }), MODEL, latency, { now: NOW, confidence: rates }, options);
      expect(choices(plan)).toEqual(['4', '4', '3', '3']);
    });

    it('uses those stops once frames that passed were seen to agree with their deeper answers', () => {
      // The same four frames: stopped frames now cost 0.5% each (0.45 points in all), less than exit 3's 2 points.
      // All four reach exit 4 with stops; the last step, no stop, goes to as many as fit, earliest deadline first.
      const agreeing = { ...rates, disagreement: () => 0.005 };
      const plan = planBatch(frames(4, { ...confident, deadlineMs: 30 }), MODEL, latency, { now: NOW, confidence: agreeing }, options);
      expect(choices(plan)).toEqual(['4', '4', '4+stop', '4+stop']);
    });

    it('uses stops where they are cheap in accuracy', () => {
      // At the 0.99 level half the frames stop at exit 2, each wrong at most 1% of the time (0.5 points), and stages 3
      // and 4 run for two frames of four: a batch of four ends at 25 ms instead of 33 ms.
      const halfAtExit2 = { passRate: (exit: number) => (exit === 2 ? 0.5 : 0) };
      const queue = frames(4, { ...confident, confidenceStop: '0.99', deadlineMs: 28 });
      const plan = planBatch(queue, MODEL, latency, { now: NOW, confidence: halfAtExit2 }, options);
      expect(choices(plan)).toEqual(['4+stop', '4+stop', '4+stop', '4+stop']);
      expect(plan.predictedBatchEndTs - NOW).toBeCloseTo(25, 6);
    });

    it('plans frames without a confidence stop at their full cap, whatever the pass rates', () => {
      const queue = frames(8);
      const informed = planBatch(queue, MODEL, latency, { now: NOW, confidence: { passRate: () => 0.9 } }, options);
      const blind = planBatch(queue, MODEL, latency, { now: NOW }, options);
      expect(informed.batch.map((f) => f.capExit)).toEqual(blind.batch.map((f) => f.capExit));
    });
  });

  it('keeps the finish margin in reserve when it chooses exits, not when it sheds', () => {
    // A lone fresh frame: exit 4 ends at 15 ms of 20. With 6 ms in reserve it must end by 14: exit 3 (9 ms).
    expect(planBatch(frames(1), MODEL, latency, { now: NOW }, { ...options, finishMarginMs: 6 }).batch[0]?.capExit).toBe(3);
    // A frame aged 17 ms makes it at exit 1 (2 ms) but not with 6 ms in reserve: it still runs, it is not shed.
    const aged = planBatch(frames(1, {}, 17), MODEL, latency, { now: NOW }, { ...options, finishMarginMs: 6 });
    expect(aged.shed).toEqual([]);
    expect(aged.batch).toMatchObject([{ capExit: 1, late: false }]);
  });

  it('gives a backlog less work per frame than the same arrivals with an empty queue', () => {
    // Arrivals at 0.1 frames/ms leave 9 ms of work per frame at 90%; per frame in batches of 4 the exits cost
    // 1.1, 2.75, 4.95 and 8.25 ms: a lone frame gets exit 4.
    const state = { now: NOW, arrivalRatePerMs: 0.1 };
    const depth = (queue: QueuedFrame[]): number => {
      const plan = planBatch(queue, MODEL, latency, state, { ...options, targetUtilization: 0.9 });
      return plan.batch.reduce((sum, f) => sum + f.capExit, 0) / plan.batch.length;
    };
    expect(depth(frames(1, { deadlineMs: 400 }))).toBe(4);
    // 48 frames waiting, 40 beyond two batches, to drain within the 400 ms deadline: 0.1 + 0.1 frames/ms, 4.5 ms
    // per frame: between exits 2 and 3 on average (the deadline alone would allow exit 4 for the head of the queue).
    const backlogged = depth(frames(48, { deadlineMs: 400 }));
    expect(backlogged).toBeGreaterThanOrEqual(2);
    expect(backlogged).toBeLessThan(3);
  });

  it('rejects impossible options', () => {
    expect(() => planBatch([], MODEL, latency, { now: NOW }, { maxBatch: 0, queueCapacity: 1 })).toThrow(
      expect.objectContaining({ code: 'EDGEKE_CONTROL_OPTIONS' }),
    );
  });
});

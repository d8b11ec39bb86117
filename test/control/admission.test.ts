import { describe, expect, it } from 'vitest';
import { admitToQueue, hasNoSlack, onMiss } from '../../src/control/admission.ts';
import { LatencyEstimator } from '../../src/control/latency-estimator.ts';
import { MODEL, policy, profile } from './fixtures.ts';

// Median stage costs at batch 1: [2, 3, 4, 6] ms, so exit 1 ends 2 ms after its start, exit 3 9 ms after.
const latency = new LatencyEstimator(profile(1.1));
const NOW = 10_000;

describe('admitToQueue', () => {
  it.each([
    { length: 0, capacity: 1, expected: null },
    { length: 63, capacity: 64, expected: null },
    { length: 64, capacity: 64, expected: 'queue-full' },
  ])('$length queued of $capacity → $expected', ({ length, capacity, expected }) => {
    expect(admitToQueue(length, { queueCapacity: capacity })).toBe(expected);
  });
});

describe('hasNoSlack (shed as no-slack, or answered late)', () => {
  it.each([
    { name: 'exit 1 fits with 1 ms to spare', deadlineTs: NOW + 3, overheadMs: 0, over: {}, expected: false },
    { name: 'exit 1 ends exactly at the deadline', deadlineTs: NOW + 2, overheadMs: 0, over: {}, expected: false },
    { name: 'exit 1 ends after it', deadlineTs: NOW + 1.9, overheadMs: 0, over: {}, expected: true },
    { name: 'the batch overhead makes it miss', deadlineTs: NOW + 3, overheadMs: 1.5, over: {}, expected: true },
    { name: 'pinned at exit 3, which misses although exit 1 fits', deadlineTs: NOW + 8, overheadMs: 0, over: { mode: 'fixed' as const, exit: 3 }, expected: true },
    { name: 'pinned at exit 3, which fits', deadlineTs: NOW + 9, overheadMs: 0, over: { mode: 'fixed' as const, exit: 3 }, expected: false },
  ])('$name → $expected', ({ deadlineTs, overheadMs, over, expected }) => {
    expect(hasNoSlack(MODEL, latency, { policy: policy(over), deadlineTs }, NOW, overheadMs)).toBe(expected);
  });

  it('judges at the median latency, whatever the risk quantile the flow plans with', () => {
    const p99 = policy({ riskQuantile: 0.99 });
    expect(hasNoSlack(MODEL, latency, { policy: p99, deadlineTs: NOW + 2 }, NOW)).toBe(false);
  });

  it.each([
    { latePolicy: 'shed' as const, expected: 'shed' },
    { latePolicy: 'answer-late' as const, expected: 'late' },
  ])('a frame that will miss under latePolicy $latePolicy is $expected', ({ latePolicy, expected }) => {
    expect(onMiss(policy({ latePolicy }))).toBe(expected);
  });
});

import { describe, expect, it } from 'vitest';
import type { PlannedFrame } from '../../src/control/planner-types.ts';
import { createBatchContinuation, decideAfterExit, lastExitAnswer } from '../../src/control/continuation.ts';
import type { ExitPolicy } from '../../src/control/exit-policy.ts';
import { LatencyEstimator } from '../../src/control/latency-estimator.ts';
import { MODEL, policy, profile } from './fixtures.ts';

const latency = new LatencyEstimator(profile(1.1));
const NOW = 5_000;

function frame(over: Partial<ExitPolicy> = {}, capExit = 4, deadlineTs = NOW + 100, stopWhenConfident = true): PlannedFrame {
  return { id: 'f', captureTs: NOW, policy: policy(over), deadlineTs, capExit, stopWhenConfident, late: false, probe: false, predictedFinishTs: NOW };
}

describe('decideAfterExit', () => {
  it.each([
    { name: 'unconfident, room left → continue', f: frame(), exit: 1, conf: 0.5, expected: { action: 'continue' } },
    { name: 'confidence stop off → continue', f: frame(), exit: 2, conf: 0.99, expected: { action: 'continue' } },
    {
      name: 'passes the 0.95 threshold → stop, confident',
      f: frame({ confidenceStop: '0.95' }),
      exit: 2,
      conf: 0.95,
      expected: { action: 'stop', reason: 'confident', answer: 'exit' },
    },
    {
      name: 'passes, but the planner left confidence stops off (idle machine) → continue',
      f: frame({ confidenceStop: '0.95' }, 4, NOW + 100, false),
      exit: 2,
      conf: 0.95,
      expected: { action: 'continue' },
    },
    {
      name: 'below the threshold → continue',
      f: frame({ confidenceStop: '0.95' }),
      exit: 2,
      conf: 0.89,
      expected: { action: 'continue' },
    },
    { name: 'at its cap → stop', f: frame({}, 2), exit: 2, conf: 0.1, expected: { action: 'stop', reason: 'cap', answer: 'exit' } },
    {
      // Next exit (stage 3) costs 4 ms at p50; only 3 ms left.
      name: 'next exit would miss the deadline → stop',
      f: frame({}, 4, NOW + 3),
      exit: 2,
      conf: 0.1,
      expected: { action: 'stop', reason: 'deadline', answer: 'exit' },
    },
    {
      name: 'next exit just fits → continue',
      f: frame({}, 4, NOW + 4),
      exit: 2,
      conf: 0.1,
      expected: { action: 'continue' },
    },
    {
      name: 'last exit, unconfident, vote allowed and better → vote',
      f: frame({ confidenceStop: '0.95', vote: true }),
      exit: 4,
      conf: 0.5,
      expected: { action: 'stop', reason: 'last-exit', answer: 'vote' },
    },
    {
      name: 'last exit, confident → its own answer, not the vote',
      f: frame({ confidenceStop: '0.95', vote: true }),
      exit: 4,
      conf: 0.8,
      expected: { action: 'stop', reason: 'last-exit', answer: 'exit' },
    },
    {
      name: 'last exit, vote not allowed → exit',
      f: frame({ confidenceStop: '0.95' }),
      exit: 4,
      conf: 0.5,
      expected: { action: 'stop', reason: 'last-exit', answer: 'exit' },
    },
    {
      name: 'capped before the last exit → no vote',
      f: frame({ vote: true }, 3),
      exit: 3,
      conf: 0.1,
      expected: { action: 'stop', reason: 'cap', answer: 'exit' },
    },
    {
      name: 'confidence wins over the deadline check',
      f: frame({ confidenceStop: '0.90' }, 4, NOW + 1),
      exit: 1,
      conf: 0.95,
      expected: { action: 'stop', reason: 'confident', answer: 'exit' },
    },
  ])('$name', ({ f, exit, conf, expected }) => {
    expect(decideAfterExit(MODEL, latency, f, exit, conf, NOW, 1)).toEqual(expected);
  });

  it('votes only for frames that passed no threshold on the way: one that passed an earlier exit keeps the last answer', () => {
    const f = frame({ confidenceStop: '0.95', vote: true }, 4, NOW + 100, false);
    expect(decideAfterExit(MODEL, latency, f, 4, 0.5, NOW, 1, false)).toMatchObject({ answer: 'vote' });
    expect(decideAfterExit(MODEL, latency, f, 4, 0.5, NOW, 1, true)).toMatchObject({ answer: 'exit' });
  });

  it('prices the next stages at the batch that will run them', () => {
    // Exit 2 → 3 is stage 3: 4 ms alone, 4 × 2.2 = 8.8 ms for 4 frames.
    const f = frame({}, 4, NOW + 6);
    expect(decideAfterExit(MODEL, latency, f, 2, 0, NOW, 1).action).toBe('continue');
    expect(decideAfterExit(MODEL, latency, f, 2, 0, NOW, 4).action).toBe('stop');
  });
});

describe('lastExitAnswer', () => {
  const f = frame({ confidenceStop: '0.95', vote: true }, 4, NOW + 100, false);
  it.each([
    { name: 'no exit passed: the vote', confidences: [0.5, 0.5, 0.5, 0.5], expected: 'vote' },
    { name: 'an earlier exit passed: the last exit', confidences: [0.99, 0.5, 0.5, 0.5], expected: 'exit' },
    { name: 'the last exit passed: the last exit', confidences: [0.5, 0.5, 0.5, 0.8], expected: 'exit' },
  ])('$name', ({ confidences, expected }) => {
    expect(lastExitAnswer(MODEL, latency, f, confidences, NOW)).toBe(expected);
  });
});

describe('createBatchContinuation', () => {
  it('answers the runner callback per frame and remembers how each stopped', () => {
    const batch = [frame({ confidenceStop: '0.90' }), frame({}, 1), frame({ vote: true, confidenceStop: '0.90' })];
    const control = createBatchContinuation(batch, MODEL, latency);
    expect(control.decide(0, 1, 0.95, NOW)).toBe('stop');
    expect(control.decide(1, 1, 0.2, NOW)).toBe('stop');
    expect(control.decide(2, 1, 0.2, NOW)).toBe('continue');
    expect(control.stopOf(2)).toBeUndefined();
    for (const exit of [2, 3]) expect(control.decide(2, exit, 0.2, NOW)).toBe('continue');
    expect(control.decide(2, 4, 0.2, NOW)).toBe('stop');
    expect(control.stopOf(0)).toEqual({ exit: 1, reason: 'confident', answer: 'exit' });
    expect(control.stopOf(1)).toEqual({ exit: 1, reason: 'cap', answer: 'exit' });
    expect(control.stopOf(2)).toEqual({ exit: 4, reason: 'last-exit', answer: 'vote' });
    // A frame asked again after it stopped, or one not in the batch, stops.
    expect(control.decide(0, 2, 0.2, NOW)).toBe('stop');
    expect(control.decide(9, 1, 0.2, NOW)).toBe('stop');
  });

  it('remembers a threshold passed at an earlier exit (stops off): that frame is not answered by the vote', () => {
    const batch = [frame({ vote: true, confidenceStop: '0.90' }, 4, NOW + 100, false), frame({ vote: true, confidenceStop: '0.90' }, 4, NOW + 100, false)];
    const control = createBatchContinuation(batch, MODEL, latency);
    expect(control.decide(0, 1, 0.99, NOW)).toBe('continue');
    expect(control.decide(1, 1, 0.2, NOW)).toBe('continue');
    for (const exit of [2, 3]) for (const i of [0, 1]) control.decide(i, exit, 0.2, NOW);
    for (const i of [0, 1]) expect(control.decide(i, 4, 0.2, NOW)).toBe('stop');
    expect(control.stopOf(0)).toMatchObject({ answer: 'exit' });
    expect(control.stopOf(1)).toMatchObject({ answer: 'vote' });
  });

  it('counts only the frames still running when it prices the next stage', () => {
    // Deadline leaves 6 ms for stage 3 (4 ms alone, 5.6 ms for two, 7.2 for three).
    const batch = [frame({}, 4, NOW + 6), frame({}, 2), frame({}, 2)];
    const control = createBatchContinuation(batch, MODEL, latency);
    expect(control.decide(1, 1, 0, NOW)).toBe('continue');
    expect(control.decide(2, 1, 0, NOW)).toBe('continue');
    expect(control.decide(1, 2, 0, NOW)).toBe('stop');
    expect(control.decide(2, 2, 0, NOW)).toBe('stop');
    expect(control.decide(0, 2, 0, NOW)).toBe('continue');
  });
});

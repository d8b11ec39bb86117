import { describe, expect, it } from 'vitest';
import {
  answersByVote,
  chooseExit,
  deepestExitWithin,
  passesConfidence,
  preferredExit,
} from '../../src/control/exit-policy.ts';
import { LatencyEstimator } from '../../src/control/latency-estimator.ts';
import { validateModelView, type ModelView } from '../../src/control/model-view.ts';
import { MODEL, policy, profile } from './fixtures.ts';

// Median exit costs at batch 1: exit 1 = 2 ms, exit 2 = 5, exit 3 = 9, exit 4 = 15; p95 is 1.1x.
const latency = new LatencyEstimator(profile(1.1));
const NOW = 1_000_000;

describe('preferredExit', () => {
  it.each([
    { mode: 'deadline' as const, target: 0.9, expected: 4 },
    { mode: 'accuracy' as const, target: 0.8, expected: 1 },
    { mode: 'accuracy' as const, target: 0.85, expected: 2 },
    { mode: 'accuracy' as const, target: 0.9, expected: 3 },
    { mode: 'accuracy' as const, target: 0.95, expected: 4 },
    // Nothing validates that high: the best the model has.
    { mode: 'accuracy' as const, target: 0.99, expected: 4 },
  ])('$mode mode, target $target → exit $expected', ({ mode, target, expected }) => {
    expect(preferredExit(MODEL, policy({ mode, accuracyTarget: target }))).toBe(expected);
  });

  it('plans with validation accuracy, never test accuracy', () => {
    const withTest: ModelView = {
      exits: MODEL.exits.map((exit) => ({ ...exit, testAccuracy: 0.99 })),
    };
    expect(preferredExit(withTest, policy({ mode: 'accuracy', accuracyTarget: 0.9 }))).toBe(3);
  });
});

describe('deepestExitWithin (deadline policy)', () => {
  it.each([
    { slack: 100, risk: 0.5, upTo: 4, expected: 4 },
    { slack: 15, risk: 0.5, upTo: 4, expected: 4 },
    { slack: 14.9, risk: 0.5, upTo: 4, expected: 3 },
    // The same slack at p95 (1.1x): exit 4 needs 16.5 ms.
    { slack: 15, risk: 0.95, upTo: 4, expected: 3 },
    { slack: 5, risk: 0.5, upTo: 4, expected: 2 },
    { slack: 2, risk: 0.5, upTo: 4, expected: 1 },
    { slack: 1.9, risk: 0.5, upTo: 4, expected: 0 },
    { slack: 100, risk: 0.5, upTo: 2, expected: 2 },
  ])('slack $slack ms at q$risk, up to exit $upTo → exit $expected', ({ slack, risk, upTo, expected }) => {
    expect(
      deepestExitWithin(MODEL, latency, { startTs: NOW, deadlineTs: NOW + slack, batchSize: 1, risk, upToExit: upTo }),
    ).toBe(expected);
  });

  it('a bigger batch costs more, so it fits shallower exits', () => {
    const query = { startTs: NOW, deadlineTs: NOW + 15, risk: 0.5, upToExit: 4 };
    expect(deepestExitWithin(MODEL, latency, { ...query, batchSize: 1 })).toBe(4);
    expect(deepestExitWithin(MODEL, latency, { ...query, batchSize: 4 })).toBe(2); // exit 2 = 5 × 2.2 = 11 ms
  });
});

describe('chooseExit (one frame, nothing queued)', () => {
  it.each([
    // Slack = deadline − (now − captureTs); deadline 20 ms.
    { name: 'fresh frame, deadline mode', age: 0, over: {}, expected: { kind: 'run', capExit: 4 } },
    { name: 'aged 8 ms (slack 12)', age: 8, over: {}, expected: { kind: 'run', capExit: 3 } },
    { name: 'aged 16 ms (slack 4)', age: 16, over: {}, expected: { kind: 'run', capExit: 1 } },
    { name: 'aged 19 ms, shed', age: 19, over: {}, expected: { kind: 'shed', reason: 'no-slack' } },
    { name: 'aged 19 ms, answer late', age: 19, over: { latePolicy: 'answer-late' }, expected: { kind: 'late', capExit: 1 } },
    { name: 'already past its deadline', age: 25, over: {}, expected: { kind: 'shed', reason: 'no-slack' } },
    { name: 'accuracy 0.9, plenty of slack', age: 0, over: { mode: 'accuracy' }, expected: { kind: 'run', capExit: 3 } },
    { name: 'accuracy 0.9, slack 6: deadline caps', age: 14, over: { mode: 'accuracy' }, expected: { kind: 'run', capExit: 2 } },
    { name: 'accuracy 0.8 stops at exit 1', age: 0, over: { mode: 'accuracy', accuracyTarget: 0.8 }, expected: { kind: 'run', capExit: 1 } },
    { name: 'p99 is more careful than p50', age: 5, over: { riskQuantile: 0.99 }, expected: { kind: 'run', capExit: 3 } },
  ] as const)('$name', ({ age, over, expected }) => {
    const choice = chooseExit(MODEL, latency, policy(over), { captureTs: NOW - age }, NOW);
    expect(choice).toMatchObject(expected);
  });

  it('predicts the finish of the chosen exit', () => {
    const choice = chooseExit(MODEL, latency, policy(), { captureTs: NOW }, NOW);
    expect(choice).toEqual({ kind: 'run', capExit: 4, predictedFinishTs: NOW + 15 });
  });
});

describe('confidence early stop', () => {
  it.each([
    { level: 'none' as const, exit: 1, confidence: 1, expected: false },
    { level: '0.90' as const, exit: 1, confidence: 0.9, expected: true },
    { level: '0.90' as const, exit: 1, confidence: 0.89, expected: false },
    { level: '0.95' as const, exit: 2, confidence: 0.91, expected: true },
    { level: '0.99' as const, exit: 1, confidence: 1, expected: false }, // no threshold reaches 0.99 at exit 1
    { level: '0.99' as const, exit: 4, confidence: 0.9, expected: true },
  ])('level $level, exit $exit, confidence $confidence → $expected', ({ level, exit, confidence, expected }) => {
    expect(passesConfidence(MODEL, policy({ confidenceStop: level }), exit, confidence)).toBe(expected);
  });
});

describe('weighted vote', () => {
  const noVote: ModelView = { exits: MODEL.exits, vote: { beatsLastExit: false, validationAccuracy: 0.94 } };
  it.each([
    { name: 'last exit, allowed, vote beats it', model: MODEL, vote: true, exit: 4, expected: true },
    { name: 'flow does not allow it', model: MODEL, vote: false, exit: 4, expected: false },
    { name: 'vote did not beat the last exit', model: noVote, vote: true, exit: 4, expected: false },
    { name: 'model ships no vote', model: { exits: MODEL.exits }, vote: true, exit: 4, expected: false },
    { name: 'not the last exit', model: MODEL, vote: true, exit: 3, expected: false },
  ])('$name → $expected', ({ model, vote, exit, expected }) => {
    expect(answersByVote(model, policy({ vote }), exit)).toBe(expected);
  });

  // Better over all frames, worse on the frames that pass no threshold at 0.95 (the ones it would answer).
  const byLevel: ModelView = { exits: MODEL.exits, vote: { beatsLastExit: true, validationAccuracy: 0.96, byLevel: { '0.95': { beatsLastExit: false }, '0.99': { beatsLastExit: true } } } };
  it.each([
    { name: 'measured at the flow level: loses there', level: '0.95' as const, expected: false },
    { name: 'measured at the flow level: wins there', level: '0.99' as const, expected: true },
    { name: 'not measured at the flow level: over all frames', level: '0.90' as const, expected: true },
    { name: 'no confidence stop: every frame reaches the last exit, over all frames', level: 'none' as const, expected: true },
  ])('$name → $expected', ({ level, expected }) => {
    expect(answersByVote(byLevel, policy({ vote: true, confidenceStop: level }), 4)).toBe(expected);
  });
});

describe('validateModelView', () => {
  it('accepts the fixture model', () => expect(() => validateModelView(MODEL, 4)).not.toThrow());
  it.each([
    { name: 'no exits', model: { exits: [] }, stages: 4 },
    { name: 'exits out of order', model: { exits: [MODEL.exits[1], MODEL.exits[0]] }, stages: 4 },
    { name: 'an exit past the last profiled stage', model: MODEL, stages: 3 },
  ])('rejects $name', ({ model, stages }) => {
    expect(() => validateModelView(model as ModelView, stages)).toThrow(
      expect.objectContaining({ code: 'EDGEKE_CONTROL_MODEL', retryable: false }),
    );
  });
});

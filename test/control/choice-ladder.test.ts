import { describe, expect, it } from 'vitest';
import { choiceLadder, expectedAccuracy, lossPerStop, type ChoiceCosts } from '../../src/control/choice-ladder.ts';
import type { ConfidenceLevel } from '../../src/control/model-view.ts';
import { MODEL, policy } from './fixtures.ts';

// Exits cost 1, 2, 4, 8 ms to reach (validation accuracy 0.80, 0.88, 0.93, 0.95). A stop takes `stopped` of the
// frames off after exit 1; they cost exit 1's work and each loses 1 − level.
function costs(stopped: number): ChoiceCosts {
  const reach = [1, 2, 4, 8];
  return {
    workMs: (cap, stop) => {
      const full = reach[cap - 1] ?? 0;
      return stop === undefined || cap === 1 ? full : stopped * 1 + (1 - stopped) * full;
    },
    stopLoss: (cap, stop) => (stop === undefined || cap === 1 ? 0 : stopped * (1 - Number(stop))),
  };
}

const steps = (ladder: { capExit: number; stop: ConfidenceLevel | undefined }[]): string[] =>
  ladder.map((c) => `${c.capExit}${c.stop === undefined ? '' : `+${c.stop}`}`);

describe('expectedAccuracy', () => {
  it.each([
    { name: 'the exit less what stops cost', cap: 3, loss: 0.02, vote: false, expected: 0.93 - 0.02 },
    { name: 'the vote, where allowed and better, at the last exit', cap: 4, loss: 0, vote: true, expected: 0.955 },
    { name: 'the vote is for the last exit only', cap: 3, loss: 0, vote: true, expected: 0.93 },
  ])('$name', ({ cap, loss, vote, expected }) => {
    expect(expectedAccuracy(MODEL, policy({ vote }), cap, loss)).toBeCloseTo(expected, 9);
  });
});

describe('lossPerStop', () => {
  it.each([
    { name: 'nothing seen: 1 − level', level: '0.95' as const, disagreement: NaN, expected: 0.05 },
    { name: 'seen to agree more often: the disagreement', level: '0.95' as const, disagreement: 0.02, expected: 0.02 },
    { name: 'never more than 1 − level', level: '0.99' as const, disagreement: 0.2, expected: 0.01 },
    { name: 'never below 0', level: '0.90' as const, disagreement: -1, expected: 0 },
  ])('$name', ({ level, disagreement, expected }) => {
    expect(lossPerStop(level, disagreement)).toBeCloseTo(expected, 9);
  });

  const validated = { loss: 0.018, disagreement: 0.036 };
  it.each([
    { name: 'validated, nothing learnt yet: the validated loss', disagreement: NaN, v: validated, expected: 0.018 },
    { name: 'validated, disagreeing as on validation: the validated loss', disagreement: 0.036, v: validated, expected: 0.018 },
    { name: 'validated, disagreeing twice as often (drift): twice the loss', disagreement: 0.072, v: validated, expected: 0.036 },
    { name: 'validated, agreeing more: less', disagreement: 0.018, v: validated, expected: 0.009 },
    { name: 'stopping helped on validation: no loss', disagreement: 0.05, v: { loss: -0.01, disagreement: 0.05 }, expected: 0 },
    { name: 'never disagreed on validation, disagreeing now: the bound', disagreement: 0.02, v: { loss: 0, disagreement: 0 }, expected: 0.02 },
    { name: 'never above the learnt disagreement', disagreement: 0.01, v: { loss: 0.04, disagreement: 0.04 }, expected: 0.01 },
  ])('$name', ({ disagreement, v, expected }) => {
    expect(lossPerStop('0.95', disagreement, v)).toBeCloseTo(expected, 9);
  });
});

describe('choiceLadder', () => {
  it('without a stop: the caps, dropping one that buys accuracy more dearly than the next', () => {
    // Per ms: exit 2 +0.08, exit 3 +0.025, exit 4 +0.005: concave, all kept.
    expect(steps(choiceLadder(MODEL, policy(), 4, costs(0)))).toEqual(['1', '2', '3', '4']);
    // Exit 2 nearly as dear as exit 3 (0.81): exit 1 → 3 buys more per ms than 1 → 2, so 2 is not a step.
    const flatExit2 = { ...MODEL, exits: MODEL.exits.map((e) => (e.index === 2 ? { ...e, validationAccuracy: 0.81 } : e)) };
    expect(steps(choiceLadder(flatExit2, policy(), 4, costs(0)))).toEqual(['1', '3', '4']);
  });

  it('stops only up to the preferred exit', () => {
    expect(steps(choiceLadder(MODEL, policy({ mode: 'accuracy', accuracyTarget: 0.9 }), 3, costs(0)))).toEqual(['1', '2', '3']);
  });

  it("'busy': a stop is a step where it saves much work for little accuracy, and the ladder ends without it", () => {
    // Stops at 0.99 take 60% of frames off at exit 1 for 0.6 points: 4+stop costs 3.8 ms for 0.944.
    const ladder = choiceLadder(MODEL, policy({ confidenceStop: '0.99', confidenceStopWhen: 'busy' }), 4, costs(0.6));
    expect(steps(ladder)).toContain('4+0.99');
    expect(steps(ladder).at(-1)).toBe('4');
    for (let i = 1; i < ladder.length; i++) {
      const [a, b] = [ladder[i - 1], ladder[i]];
      expect(b?.workMs).toBeGreaterThan(a?.workMs ?? Infinity);
      expect(b?.accuracy).toBeGreaterThan(a?.accuracy ?? Infinity);
    }
  });

  it("'busy': a stop no better than a shallower cap is never a step", () => {
    // 0.90 stops taking half the frames off at exit 1 lose 5 points: 4+stop is below exit 3 for more work, 3+stop
    // equals exit 2 for more work, and 2+stop buys less per ms than exit 2 does.
    const ladder = choiceLadder(MODEL, policy({ confidenceStop: '0.90', confidenceStopWhen: 'busy' }), 4, costs(0.5));
    expect(steps(ladder).filter((s) => s.includes('+'))).toEqual([]);
  });

  it("'always': every step stops; 'none': none does", () => {
    const always = choiceLadder(MODEL, policy({ confidenceStop: '0.95', confidenceStopWhen: 'always' }), 4, costs(0.3));
    expect(always.slice(1).every((c) => c.stop === '0.95')).toBe(true);
    expect(always.at(-1)?.capExit).toBe(4);
    const none = choiceLadder(MODEL, policy({ confidenceStop: 'none' }), 4, costs(0.3));
    expect(none.every((c) => c.stop === undefined)).toBe(true);
  });

  it('with nothing known of pass rates a stop saves nothing, so the ladder has none', () => {
    expect(steps(choiceLadder(MODEL, policy({ confidenceStop: '0.95', confidenceStopWhen: 'busy' }), 4, costs(0)))).toEqual(['1', '2', '3', '4']);
  });
});

import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BURST_SHAPE, type CameraCounts } from '../../src/demo/camera-load.ts';
import { startLiveBurstTuning } from '../../src/demo/live-burst-tuning.ts';

describe('live burst tuning', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(0);
  });
  afterEach(() => vi.useRealTimers());

  it('judges each burst as it ends and sets the next one heavier while the deepest exit keeps them', () => {
    // The camera flow's counts: every frame answered on time; burst 1 22% at exit 2, burst 2 39% at exit 2.
    const now: CameraCounts = { outcomes: { ok: 0, late: 0, shed: 0, error: 0 }, exits: { '1': 0, '2': 0, '3': 0 } };
    const answer = (frames: number, exit: string): void => {
      now.outcomes.ok += frames;
      now.exits[exit] = (now.exits[exit] ?? 0) + frames;
    };
    const set = vi.fn();
    const tuning = startLiveBurstTuning({ burstRate: 200, setBurstRate: set, counts: () => ({ outcomes: { ...now.outcomes }, exits: { ...now.exits } }), deepestExit: 3, logger: pino({ level: 'silent' }) });
    const first = BURST_SHAPE.firstBurstAtMs;
    vi.advanceTimersByTime(first + 600);
    answer(700, '3');
    answer(200, '2');
    vi.advanceTimersByTime(BURST_SHAPE.burstMs);
    // Burst 1 gave depth up for 22% of its frames, under the 35% a run's burst needs: the next is a step (1.25x) heavier.
    expect(set).toHaveBeenLastCalledWith(250);
    vi.advanceTimersByTime(BURST_SHAPE.everyMs - BURST_SHAPE.burstMs);
    answer(700, '3');
    answer(450, '2');
    vi.advanceTimersByTime(BURST_SHAPE.burstMs);
    // Burst 2 gave depth up and kept its deadlines: the same rate again.
    expect(set).toHaveBeenCalledTimes(1);
    expect(tuning.rates).toEqual([200, 250]);
    vi.advanceTimersByTime(BURST_SHAPE.everyMs - BURST_SHAPE.burstMs);
    answer(1_300, '3');
    vi.advanceTimersByTime(BURST_SHAPE.burstMs);
    // Burst 3 all from the deepest exit: two steps heavier (250 x 1.25 x 1.25).
    expect(set).toHaveBeenLastCalledWith(391);
    tuning.stop();
    vi.advanceTimersByTime(10 * BURST_SHAPE.everyMs);
    expect(tuning.rates).toEqual([200, 250, 250]);
  });

  it('never sets a burst below the floor, where the deepest exit would keep it alone', () => {
    const now: CameraCounts = { outcomes: { ok: 0, late: 0, shed: 0, error: 0 }, exits: { '1': 0, '2': 0, '3': 0 } };
    const set = vi.fn();
    const tuning = startLiveBurstTuning({ burstRate: 364, minRate: 364, setBurstRate: set, counts: () => ({ outcomes: { ...now.outcomes }, exits: { ...now.exits } }), deepestExit: 3, logger: pino({ level: 'silent' }) });
    vi.advanceTimersByTime(BURST_SHAPE.firstBurstAtMs + 600);
    // Burst 1 at the floor lost deadlines (80% on time): a step lighter would be 291, under the floor.
    now.outcomes.ok += 800;
    now.outcomes.shed += 200;
    now.exits['3'] = 500;
    now.exits['2'] = 300;
    vi.advanceTimersByTime(BURST_SHAPE.burstMs);
    expect(set).not.toHaveBeenCalled();
    vi.advanceTimersByTime(BURST_SHAPE.everyMs);
    expect(tuning.rates).toEqual([364, 364]);
    tuning.stop();
  });
});

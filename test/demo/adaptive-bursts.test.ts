import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AdaptiveBursts } from '../../src/demo/adaptive-bursts.ts';
import { nextBurstAfter, outcomeBetween, type CameraCounts } from '../../src/demo/camera-load.ts';

const counts = (ok: number, shed: number, exits: Record<string, number>): CameraCounts => ({ outcomes: { ok, late: 0, shed, error: 0 }, exits });

describe('bursts sized from the last one', () => {
  afterEach(() => vi.useRealTimers());

  it('judges the frames between two readings by the busiest exit but the deepest', () => {
    const outcome = outcomeBetween(120, counts(100, 0, { '3': 100 }), counts(300, 10, { '1': 50, '2': 80, '3': 170 }), 3);
    expect(outcome).toEqual({ rate: 120, frames: 210, answered: 200, onTime: 200, busiestShallow: 80 });
    expect(nextBurstAfter(100, 'too-light')).toBeCloseTo(125);
    expect(nextBurstAfter(100, 'too-heavy')).toBeCloseTo(80);
    expect(nextBurstAfter(100, 'fits')).toBe(100);
  });

  it('runs each burst on top of the steady camera, from 5 s every 10 s, and sizes the next from how it went', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    let now = counts(0, 0, {});
    const extras: { rate: number; stopped: boolean }[] = [];
    const bursts = new AdaptiveBursts({
      baseRate: 25,
      firstBurstRate: 100,
      startExtraCamera: async (rate) => {
        const extra = { rate, stopped: false };
        extras.push(extra);
        return { stop: async () => void (extra.stopped = true) };
      },
      counts: () => now,
      deepestExit: 3,
      logger: pino({ level: 'silent' }),
    });
    bursts.start();
    await vi.advanceTimersByTimeAsync(4_999);
    expect(extras).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(extras).toEqual([{ rate: 75, stopped: false }]);
    // The deepest exit answered nearly all of it: the next burst is heavier.
    now = counts(250, 0, { '1': 10, '3': 240 });
    await vi.advanceTimersByTimeAsync(2_000);
    expect(extras[0]?.stopped).toBe(true);
    await vi.advanceTimersByTimeAsync(500);
    expect(bursts.current).toBe(125);
    await vi.advanceTimersByTimeAsync(7_500);
    expect(extras.map((extra) => extra.rate)).toEqual([75, 100]);
    // Deadlines missed: lighter again.
    now = counts(400, 100, { '1': 150, '3': 250 });
    await vi.advanceTimersByTimeAsync(2_500);
    // Light at 100, heavy at 125: halfway between them (geometrically).
    expect(bursts.current).toBe(Math.round(Math.sqrt(100 * 125)));
    await bursts.stop();
    await vi.advanceTimersByTimeAsync(20_000);
    expect(bursts.ran).toEqual([100, 125]);
  });
});

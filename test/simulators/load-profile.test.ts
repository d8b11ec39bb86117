import { describe, expect, it } from 'vitest';
import { FrameScheduler, rateAt } from '../../src/simulators/load-profile.ts';

const bursts = { kind: 'bursts', factor: 4, burstMs: 2_000, everyMs: 10_000 } as const;

describe('rateAt', () => {
  it('is constant when steady and 4x during the first 2 s of every 10 s with bursts', () => {
    expect(rateAt({ kind: 'steady' }, 10, 123_456)).toBe(10);
    expect([0, 1_999, 2_000, 9_999, 10_000, 12_500].map((t) => rateAt(bursts, 10, t))).toEqual([40, 40, 10, 10, 40, 10]);
  });
});

describe('FrameScheduler', () => {
  it('releases frames at the steady rate whatever the tick spacing', () => {
    const scheduler = new FrameScheduler({ kind: 'steady' }, 20, 0);
    let total = 0;
    for (const t of [13, 77, 80, 333, 999, 1_000]) total += scheduler.due(t);
    expect(total).toBe(20);
    expect(scheduler.due(2_000)).toBe(20);
  });

  it('sends 4x the frames during bursts: 10 s at 10/s with a 2 s burst = 2*40 + 8*10', () => {
    const scheduler = new FrameScheduler(bursts, 10, 5_000);
    let total = 0;
    for (let t = 5_000; t <= 15_000; t += 50) total += scheduler.due(t);
    expect(total).toBe(160);
  });

  it('takes a new base rate from the moment it is set, frames already due kept', () => {
    const scheduler = new FrameScheduler({ kind: 'steady' }, 10, 0);
    expect(scheduler.due(1_000)).toBe(10);
    scheduler.setBaseRate(40);
    expect(scheduler.due(2_000)).toBe(40);
    expect(() => scheduler.setBaseRate(0)).toThrow(RangeError);
  });

  it('caps the frames released after a stall', () => {
    const scheduler = new FrameScheduler({ kind: 'steady' }, 1_000, 0, 100);
    expect(scheduler.due(60_000)).toBe(100);
    expect(scheduler.due(60_010)).toBeLessThanOrEqual(100);
  });

  it('rejects profiles that cannot work', () => {
    expect(() => new FrameScheduler({ kind: 'steady' }, 0, 0)).toThrow(RangeError);
    expect(() => new FrameScheduler({ ...bursts, burstMs: 20_000 }, 1, 0)).toThrow(RangeError);
  });
});

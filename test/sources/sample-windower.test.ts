import { describe, expect, it } from 'vitest';
import { CountWindower, TimeWindower, createWindower } from '../../src/sources/sample-windower.ts';

const ramp = (from: number, length: number): number[] => Array.from({ length }, (_, i) => from + i);

describe('CountWindower', () => {
  it('joins 1,200-sample blocks into 2,048-sample windows and carries the leftover', () => {
    const windower = new CountWindower(2048, 1000 / 12_000);
    const windows = [0, 1, 2, 3, 4].flatMap((block) => windower.push(ramp(block * 1200, 1200), 1_000_000 + block * 100));
    // 6,000 samples: two full windows, 1,904 samples carried.
    expect(windows).toHaveLength(2);
    expect(Array.from(windows[0]!.values)).toEqual(ramp(0, 2048));
    expect(Array.from(windows[1]!.values)).toEqual(ramp(2048, 2048));
    expect(windows[0]!.firstSampleTs).toBe(1_000_000);
    // Window 2 starts at sample 2048 = block 1 (ts +100 ms), offset 848 samples at 12 kHz.
    expect(windows[1]!.firstSampleTs).toBeCloseTo(1_000_100 + (848 * 1000) / 12_000, 6);
    const third = windower.push(ramp(6000, 1200), 1_000_500);
    expect(third).toHaveLength(1);
    expect(Array.from(third[0]!.values)).toEqual(ramp(4096, 2048));
  });

  it('emits several windows from one large block, each in its own buffer', () => {
    const windower = new CountWindower(4);
    const windows = windower.push(ramp(0, 9), 50);
    expect(windows.map((window) => Array.from(window.values))).toEqual([ramp(0, 4), ramp(4, 4)]);
    expect(windows.map((window) => window.firstSampleTs)).toEqual([50, 50]);
  });

  it('gathers scalar tags by count', () => {
    const windower = createWindower({ by: 'count', samples: 3 });
    expect(windower.push([1], 10)).toEqual([]);
    expect(windower.push([2], 20)).toEqual([]);
    expect(windower.push([3], 30)).toEqual([{ values: Float32Array.from([1, 2, 3]), firstSampleTs: 10 }]);
  });

  it('drops the partial window after a gap', () => {
    const windower = new CountWindower(4);
    windower.push([1, 2, 3], 0);
    expect(windower.discardPartial()).toBe(3);
    expect(windower.push([4, 5, 6, 7], 10)).toEqual([{ values: Float32Array.from([4, 5, 6, 7]), firstSampleTs: 10 }]);
  });

  it('rejects a non-positive length', () => {
    expect(() => new CountWindower(0)).toThrow(RangeError);
  });
});

describe('TimeWindower', () => {
  it('gathers samples by source time and closes a window when a later sample arrives', () => {
    const windower = new TimeWindower(1_000);
    expect(windower.push([1], 0)).toEqual([]);
    expect(windower.push([2], 400)).toEqual([]);
    expect(windower.push([3], 999)).toEqual([]);
    expect(windower.push([4], 1_500)).toEqual([{ values: Float32Array.from([1, 2, 3]), firstSampleTs: 0 }]);
    expect(windower.push([5], 2_400)).toEqual([]);
    expect(windower.push([6], 2_600)).toEqual([{ values: Float32Array.from([4, 5]), firstSampleTs: 1_500 }]);
  });

  it('flushes a window whose span has passed when the tag went quiet', () => {
    const windower = createWindower({ by: 'time', ms: 500 });
    windower.push([7], 100);
    expect(windower.flushDue(599)).toEqual([]);
    expect(windower.flushDue(600)).toEqual([{ values: Float32Array.from([7]), firstSampleTs: 100 }]);
    expect(windower.flushDue(10_000)).toEqual([]);
  });
});

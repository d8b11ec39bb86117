import { describe, expect, it } from 'vitest';
import { interleaveByClass, loadCwruTestSplit, type VibrationRecording } from '../../src/simulators/cwru-recordings.ts';
import { VibrationPlayer } from '../../src/simulators/vibration-player.ts';

const recording = (label: number, length: number, start = label * 100): VibrationRecording => ({
  file: `${label}.f32`,
  className: `class-${label}`,
  label,
  samples: Float32Array.from({ length }, (_, i) => start + i),
});

describe('VibrationPlayer', () => {
  it('plays each recording once through in blocks, then switches class', () => {
    const player = new VibrationPlayer({ recordings: [recording(0, 6), recording(1, 4)], blockSize: 3 });
    const blocks = Array.from({ length: 5 }, () => player.nextBlock());
    expect(blocks.map((block) => Array.from(block.values))).toEqual([
      [0, 1, 2],
      [3, 4, 5],
      [100, 101, 102],
      [103, 100, 101], // 4 samples held for 6: loops inside the recording up to the block boundary
      [0, 1, 2],
    ]);
    expect(blocks.map((block) => block.label)).toEqual([0, 0, 1, 1, 0]);
    expect(blocks.map((block) => block.index)).toEqual([0, 1, 2, 3, 4]);
  });

  it('holds a recording for holdSamples', () => {
    const player = new VibrationPlayer({ recordings: [recording(0, 2), recording(1, 2)], blockSize: 2, holdSamples: 4 });
    expect(Array.from({ length: 4 }, () => player.nextBlock().label)).toEqual([0, 0, 1, 1]);
    expect(player.current.label).toBe(1);
  });

  it('rejects no recordings', () => {
    expect(() => new VibrationPlayer({ recordings: [], blockSize: 3 })).toThrow(RangeError);
  });
});

describe('CWRU test split', () => {
  it('loads the committed test split and interleaves classes', async () => {
    const split = await loadCwruTestSplit('data/cwru-bearing/test');
    expect(split.classes).toHaveLength(10);
    expect(split.sampleRateHz).toBe(12_000);
    expect(split.recordings.length).toBeGreaterThanOrEqual(10);
    const first = split.recordings[0]!;
    expect(first.samples.length).toBeGreaterThan(10_000);
    expect(Number.isFinite(first.samples[0])).toBe(true);
    const order = interleaveByClass(split.recordings);
    expect(order.slice(0, 10).map((r) => r.label)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(order).toHaveLength(split.recordings.length);
  });
});

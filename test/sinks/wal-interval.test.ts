import { describe, expect, it } from 'vitest';
import { WalCommitWindow, WalIntervals } from '../../src/sinks/wal-interval.ts';
import type { WalState } from '../../src/sinks/wal-state.ts';

describe('WalCommitWindow', () => {
  it('sums the group commits of each window, keeps its longest, and passes every commit on to the metrics', () => {
    const passed: [number, number][] = [];
    const window = new WalCommitWindow({ committed: (records, seconds) => passed.push([records, seconds]) });
    window.committed(40, 0.002);
    window.committed(10, 0.009);
    window.committed(1, 0.001);
    expect(window.take()).toEqual({ commits: 3, records: 51, seconds: 0.012, maxSeconds: 0.009 });
    // The next window starts empty: a stall in one interval does not stay the maximum of every later one.
    expect(window.take()).toEqual({ commits: 0, records: 0, seconds: 0, maxSeconds: 0 });
    window.committed(5, 0.0005);
    expect(window.take()).toMatchObject({ commits: 1, maxSeconds: 0.0005 });
    expect(passed).toEqual([
      [40, 0.002],
      [10, 0.009],
      [1, 0.001],
      [5, 0.0005],
    ]);
  });
});

describe('WalIntervals', () => {
  it("reads the log's state at each interval end, the hold time of each interval, and the replay once", () => {
    let state: WalState = { bytes: 4_096, records: 17, segments: 1, retainedSegments: 0, intakeHeldSeconds: 0 };
    const window = new WalCommitWindow();
    const intervals = new WalIntervals({ state: () => state }, window, 17);
    window.committed(3, 0.001);
    expect(intervals.next()).toEqual({ bytes: 4_096, segments: 1, intakeHeldSeconds: 0, replayedRecords: 17, commits: { commits: 1, records: 3, seconds: 0.001, maxSeconds: 0.001 } });
    // A hold in progress counts in the interval it happens in; the total grows, each interval gets its own part.
    state = { ...state, bytes: 900_000, segments: 3, intakeHeldSeconds: 2.5 };
    expect(intervals.next()).toMatchObject({ bytes: 900_000, segments: 3, intakeHeldSeconds: 2.5, replayedRecords: 0, commits: { commits: 0 } });
    state = { ...state, intakeHeldSeconds: 7.5 };
    expect(intervals.next().intakeHeldSeconds).toBe(5);
    expect(intervals.next().intakeHeldSeconds).toBe(0);
  });

  it('leaves the commits out when nobody observes them', () => {
    const intervals = new WalIntervals({ state: () => ({ bytes: 0, records: 0, segments: 1, retainedSegments: 0, intakeHeldSeconds: 0 }) }, undefined, 0);
    expect(intervals.next()).not.toHaveProperty('commits');
  });
});

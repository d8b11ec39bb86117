import { describe, expect, it } from 'vitest';
import type { FrameResult } from '../../src/core/frame.ts';
import { StatusBoard } from '../../src/telemetry/status-board.ts';

function result(overrides: Partial<FrameResult>): FrameResult {
  return {
    flow: 'cam', id: 'x', captureTs: 0, captureTsSource: 'device', model: 'neu', engine: 'onnx', outcome: 'ok', exit: 3,
    classIndex: 1, queueMs: 1, inferMs: 2, e2eMs: 10, deadlineMs: 50, deadlineMet: true, configVersion: 1, ...overrides,
  };
}

describe('StatusBoard', () => {
  it('tallies each second: outcomes, exit mix, shed reasons, percentiles, on-time share and accuracy', () => {
    let now = 10_000;
    const board = new StatusBoard({ now: () => now });
    for (let i = 1; i <= 100; i++) board.record(result({ e2eMs: i, exit: i <= 30 ? 1 : 3, label: i <= 90 ? 1 : 2 }));
    board.record(result({ outcome: 'shed', exit: undefined, reason: 'no-slack' }));
    board.record(result({ outcome: 'late', e2eMs: 60, deadlineMet: false }));
    now = 11_500;
    board.record(result({ e2eMs: 5 }));
    const [flow] = board.snapshot().flows;
    expect(flow?.seconds.map((second) => second.t)).toEqual([10_000, 11_000]);
    const first = flow?.seconds[0];
    expect(first?.outcomes).toEqual({ ok: 100, late: 1, shed: 1, error: 0 });
    expect(first?.exits).toEqual({ 1: 30, 3: 71 });
    expect(first?.reasons).toEqual({ 'no-slack': 1 });
    expect(first?.p50Ms).toBe(51);
    // 101 answers (1..100 and the late 60): nearest rank 100 of 101 is 99.
    expect(first?.p99Ms).toBe(99);
    expect(first?.onTime).toBeCloseTo(100 / 102);
    // 90 of the 100 labelled ok answers had the predicted class; the late one carried no label.
    expect(first?.accuracy).toBeCloseTo(90 / 100);
    expect(flow?.seconds[1]?.accuracy).toBeNull();
  });

  it('marks config and model changes, and forgets seconds older than its history', () => {
    let now = 0;
    const board = new StatusBoard({ now: () => now, historySeconds: 10 });
    board.record(result({}));
    now = 5_000;
    board.record(result({ configVersion: 2 }));
    now = 6_000;
    board.record(result({ configVersion: 2, model: 'neu-v2' }));
    expect(board.snapshot().flows[0]?.marks.map((mark) => mark.text)).toEqual(['config v1, model neu', 'config v2', 'model neu-v2']);
    now = 30_000;
    board.record(result({ configVersion: 2, model: 'neu-v2' }));
    const flow = board.snapshot().flows[0];
    expect(flow?.seconds.map((second) => second.t)).toEqual([30_000]);
    expect(flow?.marks).toEqual([]);
    expect(flow?.configVersion).toBe(2);
  });

  it('marks a model swap by version once, not again for frames that finish on the old model after it', () => {
    let now = 0;
    const board = new StatusBoard({ now: () => now });
    board.record(result({ modelVersion: 'aaaaaaaaaaaa' }));
    now = 2_000;
    board.record(result({ modelVersion: 'bbbbbbbbbbbb' }));
    // In flight at the swap: answered by the old model just after.
    board.record(result({ modelVersion: 'aaaaaaaaaaaa' }));
    now = 3_000;
    board.record(result({ modelVersion: 'bbbbbbbbbbbb' }));
    // Swapped back later (past the 10 s in which old-model results are frames in flight at the swap): marked again.
    now = 14_000;
    board.record(result({ modelVersion: 'aaaaaaaaaaaa', configVersion: 2 }));
    const [flow] = board.snapshot().flows;
    expect(flow?.marks).toEqual([
      { t: 0, text: 'config v1, model neu aaaaaaaaaaaa' },
      { t: 2_000, text: 'model neu bbbbbbbbbbbb' },
      { t: 14_000, text: 'config v2, model neu aaaaaaaaaaaa' },
    ]);
    expect(flow?.modelVersion).toBe('aaaaaaaaaaaa');
  });

  it('keeps the percentiles from a bounded sample when a second has more answers than the cap', () => {
    const board = new StatusBoard({ now: () => 0, latencySamplesPerSecond: 100 });
    for (let i = 0; i < 10_000; i++) board.record(result({ e2eMs: i % 100 }));
    const second = board.snapshot().flows[0]?.seconds[0];
    expect(second?.outcomes.ok).toBe(10_000);
    // A uniform 0..99 population: the sampled median lies near 50 (the bound is far wider than sampling noise).
    expect(second?.p50Ms).toBeGreaterThan(25);
    expect(second?.p50Ms).toBeLessThan(75);
  });
});

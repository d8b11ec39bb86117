import { describe, expect, it } from 'vitest';
import { liveRows, redrawInPlace, tableLines, warningLines } from '../../src/demo/live-table.ts';
import type { StatusSecond, StatusSnapshot } from '../../src/telemetry/status-board.ts';

const second = (t: number, ok: number, shed: number): StatusSecond => ({
  t, outcomes: { ok, late: 0, shed, error: 0 }, exits: { 1: ok / 2, 3: ok / 2 }, reasons: shed > 0 ? { 'no-slack': shed } : ({} as Record<string, number>),
  p50Ms: 12, p99Ms: 40, onTime: ok / (ok + shed), accuracy: null,
});

describe('the demo live table', () => {
  const snapshot: StatusSnapshot = {
    now: 12_300,
    flows: [{ name: 'neu-camera', model: 'neu', modelVersion: null, deadlineMs: 50, configVersion: 1, marks: [], seconds: [second(10_000, 100, 0), second(11_000, 60, 40), second(12_000, 2, 0)] }],
  };

  it('reads the last complete second, not the one still filling', () => {
    const [row] = liveRows(snapshot, []);
    expect(row?.framesPerSecond).toBe(100);
    expect(row?.exits).toEqual({ 1: 0.5, 3: 0.5 });
    expect(row?.onTime).toBeCloseTo(0.6);
    expect(row?.reasons).toEqual({ 'no-slack': 40 });
  });

  it('warns about a flow below 90% on time and about the latest logged warning', () => {
    const rows = liveRows(snapshot, []);
    expect(warningLines(rows, 'neu-camera: mqtt source state')).toEqual([
      '! neu-camera: 60% on time in the last second (no-slack 40)',
      '! log: neu-camera: mqtt source state',
    ]);
    const lines = tableLines('-- 12 s --', rows, []);
    expect(lines).toHaveLength(4);
    expect(lines[2]).toMatch(/^neu-camera\s+100\s+e1 50% e3 50%\s+12\.0\/40\.0\s+50\s+60%/);
    expect(lines[3]).toBe('no warnings');
  });

  it('redraws over the lines drawn before', () => {
    expect(redrawInPlace(['a', 'b'], 0)).toBe('a\nb\n');
    expect(redrawInPlace(['a', 'b'], 3)).toBe('\u001b[3F\u001b[Ja\nb\n');
  });
});

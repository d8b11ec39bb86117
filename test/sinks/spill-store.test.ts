import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { InfluxPoint } from '../../src/sinks/influx-point.ts';
import { RetryBackoff } from '../../src/sinks/retry-backoff.ts';
import { SpillStore } from '../../src/sinks/spill-store.ts';

function points(from: number, count: number): InfluxPoint[] {
  return Array.from({ length: count }, (_, index) => ({
    measurement: 'inference',
    tags: { flow: 'f', model: 'm, with "odd" chars' },
    fields: { id: `p-${from + index}`, e2e_ms: 1.5, deadline_met: true, note: 'line\nbreak' },
    timestamp: `${1_764_000_000_000_000_000n + BigInt(from + index)}`,
  }));
}

describe('SpillStore', () => {
  it('keeps segments in order, intact, across reopening, and cleans up half-written ones', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeke-spill-'));
    const store = await SpillStore.open(dir, 1_000_000);
    await store.append(points(0, 3));
    await store.append(points(3, 2));
    writeFileSync(join(dir, 'segment-000000000009-1.jsonl.tmp'), '{"half":');

    const reopened = await SpillStore.open(dir, 1_000_000);
    expect(reopened.pointCount).toBe(5);
    expect(readdirSync(dir).some((name) => name.endsWith('.tmp'))).toBe(false);
    const first = reopened.oldest()!;
    expect(await reopened.read(first)).toEqual(points(0, 3));
    await reopened.remove(first);
    expect(await reopened.read(reopened.oldest()!)).toEqual(points(3, 2));
    await reopened.append(points(5, 1));
    // New segments continue the sequence after the ones found on disk.
    expect(readdirSync(dir).sort()).toEqual(['segment-000000000001-2.jsonl', 'segment-000000000002-1.jsonl']);
  });

  it('drops the oldest segments past its byte bound and reports how many points went', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeke-spill-'));
    const segmentBytes = Buffer.byteLength(points(10, 10).map((point) => JSON.stringify(point)).join('\n') + '\n');
    const store = await SpillStore.open(dir, segmentBytes * 2 + 10);
    expect(await store.append(points(10, 10))).toBe(0);
    expect(await store.append(points(20, 10))).toBe(0);
    expect(await store.append(points(30, 10))).toBe(10);
    expect(store.pointCount).toBe(20);
    expect(store.byteCount).toBeLessThanOrEqual(segmentBytes * 2 + 10);
    expect((await store.read(store.oldest()!))[0]?.fields.id).toBe('p-20');
  });
});

describe('RetryBackoff', () => {
  it('doubles from the initial delay up to the cap, with jitter in the upper half', () => {
    const low = new RetryBackoff({ initialMs: 100, maxMs: 1_000, random: () => 0 });
    expect([1, 2, 3, 4, 5, 6].map(() => low.nextDelayMs())).toEqual([50, 100, 200, 400, 500, 500]);
    const high = new RetryBackoff({ initialMs: 100, maxMs: 1_000, random: () => 1 });
    expect([1, 2, 3, 4, 5].map(() => high.nextDelayMs())).toEqual([100, 200, 400, 800, 1_000]);
    high.reset();
    expect(high.nextDelayMs()).toBe(100);
  });
});

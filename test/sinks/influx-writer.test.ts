import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InfluxWriter, type DropEvent, type InfluxWriterSettings } from '../../src/sinks/influx-writer.ts';
import { SinkClosedError } from '../../src/sinks/sink-errors.ts';
import { SpillStore } from '../../src/sinks/spill-store.ts';
import { FakeInfluxClient, recordingLogger, result, silentLogger, waitFor } from './fakes.ts';

const TARGET = { database: 'edgeke', retentionPolicy: { name: 'edgeke', duration: '30d' } };
const FAST: InfluxWriterSettings = { batchSize: 10, flushIntervalMs: 30, bufferMaxPoints: 1000, retryInitialMs: 5, retryMaxMs: 20 };

const writers: InfluxWriter[] = [];
afterEach(async () => {
  await Promise.all(writers.splice(0).map((writer) => writer.close(200).catch(() => undefined)));
});

function makeWriter(client: FakeInfluxClient, settings: Partial<InfluxWriterSettings> = {}, extra: { spill?: SpillStore; logger?: ReturnType<typeof recordingLogger>['logger'] } = {}): { writer: InfluxWriter; drops: DropEvent[] } {
  const writer = new InfluxWriter({ flow: 'line1', target: TARGET, settings: { ...FAST, ...settings }, client, logger: extra.logger ?? silentLogger, spill: extra.spill });
  const drops: DropEvent[] = [];
  writer.drops$.subscribe((drop) => drops.push(drop));
  writers.push(writer);
  writer.start();
  return { writer, drops };
}

async function writeMany(writer: InfluxWriter, count: number, prefix = 'f'): Promise<void> {
  for (let index = 0; index < count; index += 1) await writer.write(result(`${prefix}-${index}`, { captureTs: 1_764_000_000_000 + index }));
}

describe('InfluxWriter', () => {
  it('writes full batches at once and the rest after the flush interval', async () => {
    const client = new FakeInfluxClient();
    const { writer } = makeWriter(client, { flushIntervalMs: 200 });
    await waitFor(() => writer.isReady);
    await writeMany(writer, 25);
    await waitFor(() => client.stored.size === 20);
    expect(client.batches).toEqual([10, 10]);
    expect(writer.bufferedPoints).toBe(5);
    await waitFor(() => client.stored.size === 25);
    expect(client.batches).toEqual([10, 10, 5]);
  });

  it('creates the database first, retrying until InfluxDB is reachable', async () => {
    const client = new FakeInfluxClient();
    client.mode = 'down';
    const { writer } = makeWriter(client);
    await writeMany(writer, 3);
    await waitFor(() => client.ensureCalls >= 3);
    expect(writer.isReady).toBe(false);
    client.mode = 'up';
    await waitFor(() => client.stored.size === 3);
    expect(writer.isReady).toBe(true);
  });

  it('keeps points through an outage and writes each exactly once after it', async () => {
    const client = new FakeInfluxClient();
    const { logger, lines } = recordingLogger();
    const { writer, drops } = makeWriter(client, {}, { logger });
    await waitFor(() => writer.isReady);
    client.mode = 'down';
    await writeMany(writer, 95);
    await waitFor(() => client.failedWrites >= 3);
    expect(writer.bufferedPoints).toBe(95);
    client.mode = 'up';
    await waitFor(() => writer.bufferedPoints === 0);
    expect(new Set(client.storedIds()).size).toBe(95);
    expect(drops).toEqual([]);
    const messages = lines().map((line) => line.msg);
    expect(messages.filter((msg) => String(msg).includes('unavailable'))).toHaveLength(1);
    expect(messages).toContain('influx sink: InfluxDB reachable again');
  });

  it('drops a batch InfluxDB refuses (4xx) with a count and one log line, and goes on', async () => {
    const client = new FakeInfluxClient();
    const { logger, lines } = recordingLogger();
    const { writer, drops } = makeWriter(client, {}, { logger });
    await waitFor(() => writer.isReady);
    client.mode = 'reject';
    await writeMany(writer, 10, 'bad');
    await waitFor(() => drops.length === 1);
    expect(drops).toEqual([{ reason: 'rejected', points: 10 }]);
    expect(writer.droppedPoints).toBe(10);
    expect(lines().filter((line) => line.msg === 'influx sink: points refused by InfluxDB and dropped')).toHaveLength(1);
    client.mode = 'up';
    await writeMany(writer, 10, 'good');
    await waitFor(() => client.stored.size === 10);
  });

  it('bounds the memory buffer: without a spill store the oldest points are dropped and counted', async () => {
    const client = new FakeInfluxClient();
    const { writer, drops } = makeWriter(client, { bufferMaxPoints: 20, batchSize: 5 });
    await waitFor(() => writer.isReady);
    client.mode = 'down';
    await writeMany(writer, 50);
    expect(writer.bufferedPoints).toBeLessThanOrEqual(20);
    const dropped = drops.reduce((sum, drop) => sum + drop.points, 0);
    expect(drops.every((drop) => drop.reason === 'buffer-full')).toBe(true);
    client.mode = 'up';
    await waitFor(() => writer.bufferedPoints === 0);
    expect(client.stored.size + dropped).toBe(50);
    expect(client.storedIds()).toContain('f-49');
  });

  it('signals pressure above the high-water mark and clears it once drained', async () => {
    const client = new FakeInfluxClient();
    const { writer } = makeWriter(client, { bufferMaxPoints: 100, batchSize: 10 });
    await waitFor(() => writer.isReady);
    const seen: boolean[] = [];
    writer.pressure$.subscribe((high) => seen.push(high));
    client.mode = 'down';
    await writeMany(writer, 85);
    expect(writer.isAboveHighWater).toBe(true);
    const below = writer.whenBelowHighWater();
    client.mode = 'up';
    await below;
    expect(seen).toEqual([false, true, false]);
  });

  it('spills to disk past the memory bound and replays the segments in order on recovery', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeke-spill-'));
    const spill = await SpillStore.open(dir, 10 * 1024 * 1024);
    const client = new FakeInfluxClient();
    const { writer, drops } = makeWriter(client, { bufferMaxPoints: 20, batchSize: 5 }, { spill });
    await waitFor(() => writer.isReady);
    client.mode = 'down';
    await writeMany(writer, 100);
    expect(spill.pointCount).toBeGreaterThanOrEqual(80);
    expect(writer.bufferedPoints).toBe(100);
    expect(readdirSync(dir).filter((name) => name.endsWith('.jsonl')).length).toBe(spill.segmentCount);
    client.mode = 'up';
    await waitFor(() => writer.bufferedPoints === 0);
    expect(new Set(client.storedIds()).size).toBe(100);
    expect(drops).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('drops the oldest spilled points past spillMaxBytes, and counts them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeke-spill-'));
    const spill = await SpillStore.open(dir, 6_000);
    const client = new FakeInfluxClient();
    const { writer, drops } = makeWriter(client, { bufferMaxPoints: 10, batchSize: 5 }, { spill });
    await waitFor(() => writer.isReady);
    client.mode = 'down';
    await writeMany(writer, 200);
    expect(spill.byteCount).toBeLessThanOrEqual(6_000);
    const dropped = drops.reduce((sum, drop) => sum + drop.points, 0);
    expect(dropped).toBeGreaterThan(0);
    expect(drops.every((drop) => drop.reason === 'spill-bound')).toBe(true);
    client.mode = 'up';
    await waitFor(() => writer.bufferedPoints === 0);
    expect(client.stored.size + dropped).toBe(200);
    // The newest points survive; the ones dropped are the oldest that went to disk (the in-flight batch is kept).
    for (let index = 190; index < 200; index += 1) expect(client.storedIds()).toContain(`f-${index}`);
    expect(client.storedIds()).not.toContain('f-10');
  });

  it('moves what it could not write to disk on shutdown, and a new writer replays it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeke-spill-'));
    const down = new FakeInfluxClient();
    down.mode = 'down';
    const first = makeWriter(down, {}, { spill: await SpillStore.open(dir, 10 * 1024 * 1024) }).writer;
    await writeMany(first, 42);
    const report = await first.close(100);
    expect(report).toEqual({ remaining: 42, spilled: 42 });
    await expect(first.write(result('late'))).rejects.toBeInstanceOf(SinkClosedError);

    const up = new FakeInfluxClient();
    const second = makeWriter(up, {}, { spill: await SpillStore.open(dir, 10 * 1024 * 1024) }).writer;
    expect(second.bufferedPoints).toBe(42);
    await waitFor(() => second.bufferedPoints === 0);
    expect(new Set(up.storedIds()).size).toBe(42);
  });

  it('refuses a point line protocol cannot carry, counted as invalid, without failing the batch', async () => {
    const client = new FakeInfluxClient();
    const { writer, drops } = makeWriter(client);
    await writer.write(result('ok-1'));
    // Settled (so the message is acknowledged) and counted: a redelivery would fail the same way.
    await expect(writer.write(result('bad', { model: 'broken\\' }))).resolves.toBeUndefined();
    await writer.write(result('ok-2'));
    await writer.flush(1_000);
    expect(client.storedIds().sort()).toEqual(['ok-1', 'ok-2']);
    expect(drops).toEqual([{ reason: 'invalid', points: 1 }]);
  });

  it('writes flow_stats periodically and once more on close', async () => {
    const client = new FakeInfluxClient();
    const writer = new InfluxWriter({
      flow: 'line1',
      target: TARGET,
      settings: FAST,
      client,
      logger: silentLogger,
      stats: { model: 'neu-surface', exitCount: 3, intervalMs: 50, flowState: () => ({ deadlineMs: 50, queueDepth: 2, configVersion: 1 }) },
    });
    writer.start();
    await writeMany(writer, 4);
    await waitFor(() => [...client.stored.values()].some((point) => point.measurement === 'flow_stats'));
    const first = [...client.stored.values()].find((point) => point.measurement === 'flow_stats')!;
    expect(first.fields).toMatchObject({ frames: 4, ok: 4, exit_2: 4, queue_depth: 2 });
    await writer.close(1_000);
    expect([...client.stored.values()].filter((point) => point.measurement === 'flow_stats').length).toBeGreaterThanOrEqual(2);
  });
});

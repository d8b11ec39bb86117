import { appendFileSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InfluxWriter, type DropEvent, type InfluxWriterSettings } from '../../src/sinks/influx-writer.ts';
import { SinkClosedError } from '../../src/sinks/sink-errors.ts';
import { parseSegment } from '../../src/sinks/wal-record.ts';
import { WriteAheadLog, type WriteAheadLogOptions } from '../../src/sinks/write-ahead-log.ts';
import { FakeInfluxClient, recordingLogger, result, silentLogger, waitFor } from './fakes.ts';

const TARGET = { database: 'edgeke', retentionPolicy: { name: 'edgeke', duration: '30d' } };
const FAST: InfluxWriterSettings = { batchSize: 10, flushIntervalMs: 30, retryInitialMs: 5, retryMaxMs: 20 };

const writers: InfluxWriter[] = [];
afterEach(async () => {
  await Promise.all(writers.splice(0).map((writer) => writer.close(200).catch(() => undefined)));
});

type WalSettings = Partial<Omit<WriteAheadLogOptions, 'dir' | 'flow' | 'logger'>>;

async function makeWriter(
  client: FakeInfluxClient,
  settings: Partial<InfluxWriterSettings> = {},
  extra: { dir?: string; wal?: WalSettings; logger?: ReturnType<typeof recordingLogger>['logger'] } = {},
): Promise<{ writer: InfluxWriter; drops: DropEvent[]; dir: string }> {
  const dir = extra.dir ?? mkdtempSync(join(tmpdir(), 'edgeke-wal-'));
  const logger = extra.logger ?? silentLogger;
  const { log, recovery } = await WriteAheadLog.open({ dir, flow: 'line1', logger, maxBytes: 10 * 2 ** 20, memoryMaxRecords: 1_000, ...extra.wal });
  const writer = new InfluxWriter({ flow: 'line1', target: TARGET, settings: { ...FAST, ...settings }, client, logger, wal: log, recoveredKeys: recovery.keys });
  const drops: DropEvent[] = [];
  writer.drops$.subscribe((drop) => drops.push(drop));
  writers.push(writer);
  writer.start();
  return { writer, drops, dir };
}

async function writeMany(writer: InfluxWriter, count: number, prefix = 'f'): Promise<void> {
  for (let index = 0; index < count; index += 1) await writer.write(result(`${prefix}-${index}`, { captureTs: 1_764_000_000_000 + index }));
}

/** Every record in the folder's log segments (.log and .done), as durable on disk now. */
function loggedLines(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => /^wal-\d+\.(log|done)$/.test(name))
    .sort()
    .flatMap((name) => parseSegment(readFileSync(join(dir, name), 'utf8')).records.map((record) => record.line));
}

describe('InfluxWriter', () => {
  it('writes full batches at once and the rest after the flush interval', async () => {
    const client = new FakeInfluxClient();
    const { writer } = await makeWriter(client, { flushIntervalMs: 200 });
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
    const { writer } = await makeWriter(client);
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
    const { writer, drops } = await makeWriter(client, {}, { logger });
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
    const { writer, drops } = await makeWriter(client, {}, { logger });
    await waitFor(() => writer.isReady);
    client.mode = 'reject';
    // Written together: one group commit, one batch.
    await Promise.all(Array.from({ length: 10 }, (_, index) => writer.write(result(`bad-${index}`, { captureTs: 1_764_000_000_000 + index }))));
    await waitFor(() => drops.length === 1);
    expect(drops).toEqual([{ reason: 'rejected', points: 10 }]);
    expect(writer.droppedPoints).toBe(10);
    expect(lines().filter((line) => line.msg === 'influx sink: points refused by InfluxDB and dropped')).toHaveLength(1);
    client.mode = 'up';
    await writeMany(writer, 10, 'good');
    await waitFor(() => client.stored.size === 10);
  });

  it('refuses a point line protocol cannot carry, counted as invalid, without failing the batch', async () => {
    const client = new FakeInfluxClient();
    const { writer, drops } = await makeWriter(client);
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
    const dir = mkdtempSync(join(tmpdir(), 'edgeke-wal-'));
    const { log } = await WriteAheadLog.open({ dir, flow: 'line1', logger: silentLogger, maxBytes: 2 ** 20, memoryMaxRecords: 1_000 });
    const writer = new InfluxWriter({
      flow: 'line1',
      target: TARGET,
      settings: FAST,
      client,
      logger: silentLogger,
      wal: log,
      stats: { intervalMs: 50, flowState: () => ({ deadlineMs: 50, queueDepth: 2, configVersion: 1, model: { name: 'neu-surface', version: '3fa9c2d1e0b4', exitCount: 3 } }) },
    });
    writer.start();
    await writeMany(writer, 4);
    await waitFor(() => client.storedFields('flow_stats').length > 0);
    await writer.close(1_000);
    const points = client.storedFields('flow_stats').map((fields) => fields.split(','));
    expect(points.length).toBeGreaterThanOrEqual(2);
    // The writes may straddle an interval's end (four group commits against a 50 ms interval on a busy machine): each
    // frame is counted in exactly one interval, so the intervals add up to the four frames.
    const total = (field: string): number => points.reduce((sum, fields) => sum + Number(/=(\d+)i$/.exec(fields.find((f) => f.startsWith(`${field}=`)) ?? '=0i')?.[1] ?? 0), 0);
    expect([total('frames'), total('ok'), total('exit_2')]).toEqual([4, 4, 4]);
    for (const fields of points) expect(fields).toContain('queue_depth=2i');
  });

  it('resolves write only once the point is fsync\'d to the log (after the group-commit interval, never before)', async () => {
    const client = new FakeInfluxClient();
    client.mode = 'down';
    const { writer, dir } = await makeWriter(client, {}, { wal: { commitIntervalMs: 60 } });
    const started = performance.now();
    await writer.write(result('durable-1'));
    // The group waits for its interval before the fsync: resolving earlier would acknowledge a point held in memory.
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
    expect(loggedLines(dir).some((line) => line.includes('id="durable-1"'))).toBe(true);
  });

  it('commits concurrent writes in groups: one fsync for many points', async () => {
    const client = new FakeInfluxClient();
    const { writer } = await makeWriter(client, { batchSize: 500 }, { wal: { commitIntervalMs: 20 } });
    await Promise.all(Array.from({ length: 300 }, (_, index) => writer.write(result(`g-${index}`, { captureTs: 1_764_000_000_000 + index }))));
    expect(writer.walStats.committedRecords).toBe(300);
    // All 300 arrive within one event-loop turn: one group, at most a few on a busy machine.
    expect(writer.walStats.commits).toBeLessThanOrEqual(3);
    await waitFor(() => client.stored.size === 300);
  });

  it('never drops an acknowledged point: at the log bound writes wait (not acknowledged) until InfluxDB takes points again', async () => {
    const client = new FakeInfluxClient();
    const { writer, drops } = await makeWriter(client, { batchSize: 20 }, { wal: { maxBytes: 65_536, commitIntervalMs: 1 } });
    await waitFor(() => writer.isReady);
    client.mode = 'down';
    const settled = new Set<number>();
    const writes = Array.from({ length: 600 }, (_, index) =>
      writer.write(result(`b-${index}`, { captureTs: 1_764_000_000_000 + index })).then(() => settled.add(index)),
    );
    await waitFor(() => writer.isAboveHighWater);
    await new Promise((resolve) => setTimeout(resolve, 100));
    // A record is ~330 bytes: 64 KiB hold ~200 of them. The rest wait, unacknowledged, in order.
    expect(settled.size).toBeGreaterThan(100);
    expect(settled.size).toBeLessThan(600);
    expect([...settled].every((index) => index < settled.size)).toBe(true);
    const below = writer.whenBelowHighWater();
    client.mode = 'up';
    await Promise.all(writes);
    await below;
    await waitFor(() => client.stored.size === 600);
    expect(drops).toEqual([]);
  });

  it('keeps only bufferMaxPoints in memory and reads the rest back from the log, oldest first', async () => {
    const client = new FakeInfluxClient();
    const { writer, drops } = await makeWriter(client, { batchSize: 7 }, { wal: { memoryMaxRecords: 20, segmentMaxBytes: 4_096 } });
    await waitFor(() => writer.isReady);
    client.mode = 'down';
    await writeMany(writer, 200);
    expect(writer.bufferedPoints).toBe(200);
    client.mode = 'up';
    await waitFor(() => writer.bufferedPoints === 0);
    expect(client.storedIds()).toEqual(Array.from({ length: 200 }, (_, index) => `f-${index}`));
    expect(drops).toEqual([]);
  });

  it('keeps what InfluxDB did not confirm in the log over a restart; a new writer replays it, and a torn last record is ignored', async () => {
    const down = new FakeInfluxClient();
    down.mode = 'down';
    const first = await makeWriter(down);
    await writeMany(first.writer, 42);
    const report = await first.writer.close(100);
    expect(report).toEqual({ remaining: 42, notDurable: 0 });
    await expect(first.writer.write(result('late'))).rejects.toBeInstanceOf(SinkClosedError);
    // A crash mid-write leaves a record without its end: it was never acknowledged.
    const segment = readdirSync(first.dir).filter((name) => name.endsWith('.log')).sort().at(-1) ?? '';
    appendFileSync(join(first.dir, segment), '0badc0de f-torn inference,flow=line1 id="torn');

    const up = new FakeInfluxClient();
    const second = await makeWriter(up, {}, { dir: first.dir });
    expect(second.writer.bufferedPoints).toBe(42);
    await waitFor(() => second.writer.bufferedPoints === 0);
    expect(new Set(up.storedIds()).size).toBe(42);
    expect(up.storedIds()).not.toContain('torn');
  });

  it('recognises a frame the broker redelivers after a restart and does not write it twice', async () => {
    const client = new FakeInfluxClient();
    const first = await makeWriter(client);
    await writeMany(first.writer, 5);
    await first.writer.close(1_000);
    expect(client.stored.size).toBe(5);
    const second = await makeWriter(client, {}, { dir: first.dir });
    // Same device id and capture time, answered differently the second time (another exit: another series).
    await second.writer.write(result('f-3', { captureTs: 1_764_000_000_003, exit: 1, outcome: 'late' }));
    await second.writer.write(result('f-9', { captureTs: 1_764_000_000_009 }));
    await second.writer.flush(1_000);
    expect(second.writer.duplicatesSkippedCount).toBe(1);
    expect(client.storedIds().sort()).toEqual(['f-0', 'f-1', 'f-2', 'f-3', 'f-4', 'f-9']);
  });

  it('remembers the last dedupeWindow frames: a redelivery within it is skipped, one older than it is written again', async () => {
    const client = new FakeInfluxClient();
    const { writer } = await makeWriter(client, { dedupeWindow: 4 });
    await writeMany(writer, 10);
    // f-9 .. f-6 are the last four: skipped; f-5 left the window: written again (InfluxDB keeps one point per series and time).
    await writer.write(result('f-9', { captureTs: 1_764_000_000_009 }));
    await writer.write(result('f-6', { captureTs: 1_764_000_000_006 }));
    expect(writer.duplicatesSkippedCount).toBe(2);
    await writer.write(result('f-5', { captureTs: 1_764_000_000_005 }));
    expect(writer.duplicatesSkippedCount).toBe(2);
    // Many more frames than the window: the window stays the last four, whatever its bookkeeping did meanwhile.
    await writeMany(writer, 50, 'g');
    await writer.write(result('g-46', { captureTs: 1_764_000_000_046 }));
    await writer.write(result('g-45', { captureTs: 1_764_000_000_045 }));
    expect(writer.duplicatesSkippedCount).toBe(3);
  });

  it('retries 401 (credentials rotated), setting the database up again first; nothing is dropped', async () => {
    const client = new FakeInfluxClient();
    const { logger, lines } = recordingLogger();
    const { writer, drops } = await makeWriter(client, {}, { logger });
    await waitFor(() => writer.isReady);
    client.mode = 'unauthorized';
    await writeMany(writer, 15);
    await waitFor(() => client.failedWrites >= 2);
    const setupsBefore = client.ensureCalls;
    expect(writer.isReady).toBe(false);
    client.mode = 'up';
    await waitFor(() => client.stored.size === 15);
    expect(client.ensureCalls).toBeGreaterThan(setupsBefore);
    expect(drops).toEqual([]);
    expect(lines().filter((line) => String(line.msg).includes('InfluxDB unavailable'))).toHaveLength(1);
  });

  it('refuses a log folder another writer holds, and takes it once that one closed', async () => {
    const client = new FakeInfluxClient();
    const first = await makeWriter(client);
    await expect(WriteAheadLog.open({ dir: first.dir, flow: 'line1', logger: silentLogger, maxBytes: 2 ** 20, memoryMaxRecords: 100 })).rejects.toThrow(/in use/);
    await first.writer.close(1_000);
    const second = await makeWriter(client, {}, { dir: first.dir });
    expect(second.writer.bufferedPoints).toBe(0);
  });

  it('works with a write-only user: setup is refused (403), writes to the existing database go through', async () => {
    const client = new FakeInfluxClient();
    client.setup = 'forbidden';
    const { writer, drops } = await makeWriter(client);
    await writeMany(writer, 12);
    await waitFor(() => client.stored.size === 12);
    expect(writer.isReady).toBe(true);
    expect(drops).toEqual([]);
  });
});

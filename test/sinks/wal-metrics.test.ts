import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createInfluxWriter } from '../../src/sinks/create-influx-writer.ts';
import { encodeRecord, type WalRecord } from '../../src/sinks/wal-record.ts';
import { WriteAheadLog, type WriteAheadLogOptions } from '../../src/sinks/write-ahead-log.ts';
import { EdgekeMetrics } from '../../src/telemetry/metrics.ts';
import { loadFlow } from '../helpers/flow-from-yaml.ts';
import { FakeInfluxClient, result, silentLogger } from './fakes.ts';

// What the write-ahead log tells its metrics: each group commit (records, write + fdatasync seconds) through its
// observer, and what it holds on demand (bytes, records, segments, time it held intake back near its bound). The log
// is real (files in a temp folder); the hold is timed on a clock the test moves.

const dirs: string[] = [];
const logs: WriteAheadLog[] = [];
afterEach(async () => {
  await Promise.all(logs.splice(0).map((log) => log.close(200).catch(() => undefined)));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'edgeke-wal-metrics-'));
  dirs.push(dir);
  return dir;
}

async function openLog(options: Partial<WriteAheadLogOptions> & { dir?: string }): Promise<WriteAheadLog> {
  const { log } = await WriteAheadLog.open({ dir: options.dir ?? tempDir(), flow: 'line1', logger: silentLogger, maxBytes: 2 ** 20, memoryMaxRecords: 1_000, ...options });
  logs.push(log);
  return log;
}

const record = (index: number): WalRecord => ({ key: `k-${index}`, line: `inference,flow=line1 id="f-${index}",confidence=0.5 ${1_764_000_000_000 + index}000000` });
const recordBytes = (records: readonly WalRecord[]): number => records.reduce((sum, entry) => sum + Buffer.byteLength(encodeRecord(entry)), 0);

/** The value of one sample line of the exposition, e.g. `edgeke_wal_bytes{flow="line1"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((entry) => entry.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('write-ahead log metrics', () => {
  it('reports every group commit and what the log holds; confirmed records leave it', async () => {
    const commits: { records: number; seconds: number }[] = [];
    const log = await openLog({ commitIntervalMs: 5, observer: { committed: (records, seconds) => commits.push({ records, seconds }) } });
    const records = Array.from({ length: 50 }, (_, index) => record(index));
    await Promise.all(records.map((entry) => log.append(entry)));

    // Every record committed once, in groups (all 50 arrive in one turn: one group, a few on a busy machine).
    expect(commits.reduce((sum, commit) => sum + commit.records, 0)).toBe(50);
    expect(commits.length).toBeLessThanOrEqual(3);
    for (const commit of commits) expect(commit.seconds).toBeGreaterThanOrEqual(0);
    expect(log.state()).toEqual({ bytes: recordBytes(records), records: 50, segments: 1, retainedSegments: 0, intakeHeldSeconds: 0 });

    const batch = await log.nextBatch(100);
    expect(batch?.lines).toHaveLength(50);
    await log.confirm(batch as NonNullable<typeof batch>);
    // The records leave at once; their bytes when their segment is closed (they count against the bound till then).
    expect(log.state()).toMatchObject({ bytes: recordBytes(records), records: 0, segments: 1 });
  });

  it('counts the time it held intake back near its bound, the hold in progress included (virtual time)', async () => {
    let now = 1_000;
    const first = [record(0), record(1), record(2)];
    const log = await openLog({ now: () => now, maxBytes: recordBytes(first), commitIntervalMs: 1 });
    await Promise.all(first.map((entry) => log.append(entry)));
    let durable = false;
    const waiting = log.append(record(3)).then(() => (durable = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(durable).toBe(false);
    expect(log.isAboveHighWater).toBe(true);

    now += 2_500;
    expect(log.state().intakeHeldSeconds).toBe(2.5);
    now += 500;
    expect(log.state().intakeHeldSeconds).toBe(3);
    // InfluxDB confirms the first three: room again, the waiting append goes through and the hold stops counting.
    const batch = await log.nextBatch(10);
    await log.confirm(batch as NonNullable<typeof batch>);
    await waiting;
    now += 10_000;
    expect(log.state()).toMatchObject({ intakeHeldSeconds: 3, records: 1 });
  });

  it('exports them as Prometheus series per flow, the wait as a counter that only grows, and forgets a removed flow', async () => {
    const metrics = new EdgekeMetrics({ defaultMetrics: false });
    try {
      metrics.recordWalCommit('line1', 40, 0.004);
      metrics.recordWalCommit('line1', 1, 0.0007);
      metrics.setWalState('line1', { bytes: 12_345, records: 41, segments: 2, retainedSegments: 3, intakeHeldSeconds: 0 });
      let text = await metrics.registry.metrics();
      expect(sample(text, 'edgeke_wal_bytes{flow="line1"}')).toBe(12_345);
      expect(sample(text, 'edgeke_wal_records{flow="line1"}')).toBe(41);
      expect(sample(text, 'edgeke_wal_segments{flow="line1",state="log"}')).toBe(2);
      expect(sample(text, 'edgeke_wal_segments{flow="line1",state="done"}')).toBe(3);
      expect(sample(text, 'edgeke_wal_intake_held_seconds_total{flow="line1"}')).toBe(0);
      expect(sample(text, 'edgeke_wal_fsync_duration_seconds_count{flow="line1"}')).toBe(2);
      expect(sample(text, 'edgeke_wal_fsync_duration_seconds_bucket{le="0.001",flow="line1"}')).toBe(1);
      expect(sample(text, 'edgeke_wal_commit_records_sum{flow="line1"}')).toBe(41);
      expect(sample(text, 'edgeke_wal_commit_records_bucket{le="1",flow="line1"}')).toBe(1);

      metrics.setWalState('line1', { bytes: 0, records: 0, segments: 1, retainedSegments: 3, intakeHeldSeconds: 2.5 });
      metrics.setWalState('line1', { bytes: 0, records: 0, segments: 1, retainedSegments: 3, intakeHeldSeconds: 4 });
      text = await metrics.registry.metrics();
      expect(sample(text, 'edgeke_wal_intake_held_seconds_total{flow="line1"}')).toBe(4);

      metrics.removeFlow('line1');
      text = await metrics.registry.metrics();
      expect(text).not.toContain('flow="line1"');
      // A flow started again (a new log, its hold time from zero) counts from zero.
      metrics.setWalState('line1', { bytes: 0, records: 0, segments: 1, retainedSegments: 0, intakeHeldSeconds: 1 });
      expect(sample(await metrics.registry.metrics(), 'edgeke_wal_intake_held_seconds_total{flow="line1"}')).toBe(1);
    } finally {
      metrics.close();
    }
  });

  it('tells how many records the sink replays on start (left unconfirmed by the previous run)', async () => {
    const walDir = tempDir();
    const left = await WriteAheadLog.open({ dir: walDir, flow: 'line1', logger: silentLogger, maxBytes: 2 ** 20, memoryMaxRecords: 1_000, commitIntervalMs: 1 });
    await Promise.all(Array.from({ length: 17 }, (_, index) => left.log.append(record(index))));
    await left.log.close(1_000);

    const config = loadFlow(`
name: line1
source: { kind: mqtt, url: "mqtt://127.0.0.1:1", topic: t }
decode: json-values
model: { path: test/fixtures/tiny-model/signal }
sinks: { influx: { url: "http://127.0.0.1:1", database: edgeke, walDir: "${walDir}", statsIntervalMs: 3600000 } }
`).config;
    const replayed: number[] = [];
    const commits: number[] = [];
    const client = new FakeInfluxClient();
    const writer = await createInfluxWriter('line1', config.sinks.influx as NonNullable<typeof config.sinks.influx>, {
      logger: silentLogger,
      clientFactory: () => client,
      onWalRecovered: (recovery) => replayed.push(recovery.records),
      walObserver: { committed: (records) => commits.push(records) },
      // The hour-long stats interval outlasts the test: the one flow_stats point is the one written on close.
      stats: { flowState: () => ({ deadlineMs: 50, queueDepth: 0, configVersion: 1, model: { name: 'signal', version: 'a1b2c3d4e5f6', exitCount: 2 } }) },
    });
    try {
      expect(replayed).toEqual([17]);
      expect(writer.walState.records).toBe(17);
      await Promise.all(Array.from({ length: 30 }, (_, index) => writer.write(result(`after-${index}`, { captureTs: 1_764_000_000_000 + index }))));
    } finally {
      await writer.close(2_000);
    }
    // ... and so does its flow_stats point (for the dashboards, which read only InfluxDB), with the interval's commits.
    const [stats, ...more] = client.storedFields('flow_stats');
    expect(more).toEqual([]);
    const field = (name: string): string | undefined => stats?.split(',').find((entry) => entry.startsWith(`${name}=`))?.slice(name.length + 1);
    expect(field('wal_replayed')).toBe('17i');
    expect(field('wal_committed')).toBe('30i');
    // The metrics saw the same commits (the flow_stats point's own commit came after it was made).
    expect(field('wal_commits')).toBe(`${commits.length - 1}i`);
    expect(Number(field('wal_fsync_max_ms'))).toBeGreaterThanOrEqual(Number(field('wal_fsync_mean_ms')));
    expect(Number(field('wal_fsync_mean_ms'))).toBeGreaterThan(0);
    expect(Number(field('wal_bytes')?.replace('i', ''))).toBeGreaterThan(0);
    expect(field('wal_intake_held_ms')).toBe('0');
  });
});

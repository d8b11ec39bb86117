import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ResultSink } from '../../../src/sinks/result-sink.ts';
import { startInfluxd, type RunningInfluxd } from '../../helpers/influxd.ts';
import {
  connectPublisher,
  duplicates,
  influxFor,
  loadFlow,
  missingIds,
  publishSteadily,
  recordingSink,
  rssMiB,
  seqId,
  signalFlowYaml,
  startTestService,
  storedIds,
  tempDir,
  waitFor,
  type TestService,
} from './harness.ts';

// Promises 1 and 2 (docs/reliability.md): InfluxDB stopped under steady MQTT load, through the whole service.
// Crashes and broken disks (promise 12) are in crash.test.ts.

const OUTAGE_MS = Number(process.env.EDGEKE_REL_OUTAGE_MS ?? 60_000);
const SPILL_OUTAGE_MS = Math.min(OUTAGE_MS, 10_000);
const RATE = 50;
const FLUSH_MS = 500;

/** Points still waiting in the flow's InfluxDB sink, read live from its readiness check (`buffer N/M`). */
async function sinkBuffer(running: TestService, flow: string): Promise<number> {
  const report = await running.readiness.evaluate();
  const detail = report.checks.find((check) => check.name === `${flow}:influx`)?.detail ?? '';
  const match = /buffer (\d+)/.exec(detail);
  if (match === null) throw new Error(`no sink buffer in readiness detail '${detail}'`);
  return Number(match[1]);
}

describe('InfluxDB outage under steady load, through the service', () => {
  const mqttUrl = inject('mosquittoUrl');
  const dir = tempDir('influx-outage');
  let influxd: RunningInfluxd;
  let publisher: MqttClient;
  const services: TestService[] = [];

  beforeAll(async () => {
    influxd = await startInfluxd({ dir: join(dir.path, 'influxd') });
    publisher = await connectPublisher(mqttUrl, 'rel-outage-publisher');
  });
  afterAll(async () => {
    await Promise.all(services.map((running) => running.stop(2_000)));
    await publisher?.endAsync();
    await influxd?.process.stop();
    dir.remove();
  });

  it(`promise 1: a ${OUTAGE_MS / 1000} s outage loses nothing, duplicates nothing, drains within two flush intervals`, async () => {
    const flow = 'rel-outage-1';
    const running = await startTestService([loadFlow(signalFlowYaml({ name: flow, mqttUrl, topic: 'rel/outage1', influxUrl: influxd.url, database: 'rel_outage1', influx: `flushIntervalMs: ${FLUSH_MS}` }))], {
      profileCacheDir: join(dir.path, 'profiles'),
    });
    services.push(running);
    await waitFor('source connected', async () => (await running.readiness.evaluate()).ready, 15_000);
    const rssBefore = rssMiB();
    const load = publishSteadily(publisher, 'rel/outage1', { prefix: 'o1', ratePerSecond: RATE });

    await waitFor('first frames answered', () => running.results.length >= RATE, 10_000);
    await influxd.process.stop();
    const outageStart = Date.now();
    let maxBuffer = 0;
    let maxRss = 0;
    while (Date.now() - outageStart < OUTAGE_MS) {
      maxBuffer = Math.max(maxBuffer, await sinkBuffer(running, flow));
      maxRss = Math.max(maxRss, rssMiB());
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const bufferedAtRecovery = await sinkBuffer(running, flow);
    await influxd.process.start();
    const recoveredAt = Date.now();
    // Drained: the outage's backlog is written (what arrives meanwhile keeps flowing at one flush interval).
    await waitFor('buffer drained', async () => (await sinkBuffer(running, flow)) <= RATE * (FLUSH_MS / 1000) * 2, 10_000, 10);
    const drainMs = Date.now() - recoveredAt;
    const published = await load.stop();
    await waitFor('every frame answered', () => running.results.length >= published, 20_000);
    const clean = await running.stop(10_000);

    const ids = await storedIds(influxFor(influxd.url, 'rel_outage1'));
    expect(clean).toBe(true);
    expect(missingIds(ids, 'o1', published)).toEqual([]);
    expect(duplicates(ids)).toEqual([]);
    expect(ids.length).toBe(published);
    expect(bufferedAtRecovery).toBeGreaterThan(RATE * (OUTAGE_MS / 1000) * 0.8);
    // Two flush intervals, measured from this process: the 10 ms poll of the readiness check and this busy event
    // loop (the service runs in it) add their own delay (1,004 ms seen once with another process holding a core).
    expect(drainMs).toBeLessThanOrEqual(2 * FLUSH_MS + 100);
    expect(maxRss - rssBefore).toBeLessThan(200);
    expect(running.lines.some((line) => line.includes('InfluxDB unavailable'))).toBe(true);
    console.info(`[reliability] P1 outage ${OUTAGE_MS} ms, frames ${published}, buffered ${bufferedAtRecovery} (max ${maxBuffer}), drain ${drainMs} ms, rss +${(maxRss - rssBefore).toFixed(0)} MiB`);
  });

  it('promise 2: an outage longer than the write-ahead log holds: intake is held back at its bound, nothing acknowledged is dropped, all stored once after', async () => {
    const flow = 'rel-outage-2';
    const walDir = join(dir.path, 'wal-outage-2');
    const walMaxBytes = 65_536;
    const yaml = signalFlowYaml({
      name: flow,
      mqttUrl,
      topic: 'rel/outage2',
      influxUrl: influxd.url,
      database: 'rel_outage2',
      influx: `flushIntervalMs: ${FLUSH_MS}, batchSize: 25, bufferMaxPoints: 100, walDir: "${walDir}", walMaxBytes: ${walMaxBytes}`,
      // Room for the backlog the broker held back: a frame shed before decoding is stored under a generated id.
      limits: 'queueCapacity: 4096, maxPayloadBytes: 65536',
    });
    const handed: string[] = [];
    const running = await startTestService([loadFlow(yaml)], { profileCacheDir: join(dir.path, 'profiles'), extraSinks: () => [recordingSink(handed)] });
    services.push(running);
    await waitFor('source connected', async () => (await running.readiness.evaluate()).ready, 15_000);
    const load = publishSteadily(publisher, 'rel/outage2', { prefix: 'o2', ratePerSecond: RATE });
    await waitFor('first frames answered', () => running.results.length >= RATE, 10_000);
    await influxd.process.stop();
    const outageStart = Date.now();
    let maxLogBytes = 0;
    let handedAtHalf = 0;
    while (Date.now() - outageStart < SPILL_OUTAGE_MS) {
      maxLogBytes = Math.max(maxLogBytes, logBytes(walDir));
      if (handedAtHalf === 0 && Date.now() - outageStart >= SPILL_OUTAGE_MS / 2) handedAtHalf = handed.length;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const handedAtEnd = handed.length;
    const walAtOutageEnd = await running.metrics.registry.metrics();
    const published = await load.stop();
    await influxd.process.start();
    // Every frame comes through once InfluxDB takes points again: the ones held back at the broker too.
    await waitFor('every frame stored', async () => missingIds(await storedIds(influxFor(influxd.url, 'rel_outage2')), 'o2', published).length === 0, 30_000, 200).catch(async (error: unknown) => {
      const missing = missingIds(await storedIds(influxFor(influxd.url, 'rel_outage2')), 'o2', published);
      throw new Error(`${missing.length} of ${published} missing: ${missing.slice(0, 5).join(', ')}; ${running.lines.slice(-5).join('\n')}`, { cause: error });
    });
    const metricsText = await running.metrics.registry.metrics();
    const clean = await running.stop(10_000);

    const ids = await storedIds(influxFor(influxd.url, 'rel_outage2'));
    expect(clean).toBe(true);
    // The bound held (one group commit of margin), and intake stopped at it: in the second half of the outage the
    // pipeline took in a few frames at most (those freed by a 25-point segment of slack), not RATE per second.
    expect(maxLogBytes).toBeLessThanOrEqual(walMaxBytes);
    expect(handedAtEnd - handedAtHalf).toBeLessThan((RATE * SPILL_OUTAGE_MS) / 2_000 / 4);
    expect(missingIds(ids, 'o2', published)).toEqual([]);
    expect(duplicates(ids)).toEqual([]);
    expect(metricsText).not.toMatch(/edgeke_sink_dropped_points_total\{[^}]*\} [1-9]/);
    expect(running.lines.some((line) => line.includes('dropped'))).toBe(false);
    // The write-ahead log's own metrics tell the same story (sampled each second): near its bound, intake held back
    // through the second half of the outage at least, every append group-committed.
    const wal = (series: string): number => Number(new RegExp(`^${series}\\{[^}]*flow="${flow}"[^}]*\\} (\\S+)$`, 'm').exec(walAtOutageEnd)?.[1]);
    expect(wal('edgeke_wal_bytes')).toBeLessThanOrEqual(walMaxBytes);
    expect(wal('edgeke_wal_bytes')).toBeGreaterThan(walMaxBytes / 2);
    expect(wal('edgeke_wal_intake_held_seconds_total')).toBeGreaterThan(SPILL_OUTAGE_MS / 2_000 - 1.5);
    expect(wal('edgeke_wal_fsync_duration_seconds_count')).toBeGreaterThan(0);
    expect(wal('edgeke_wal_commit_records_sum')).toBeGreaterThanOrEqual(wal('edgeke_wal_records'));
    console.info(`[reliability] P2 write-ahead log metrics at the outage's end: ${wal('edgeke_wal_bytes')} B, ${wal('edgeke_wal_records')} records, intake held ${wal('edgeke_wal_intake_held_seconds_total').toFixed(1)} s, ${wal('edgeke_wal_fsync_duration_seconds_count')} commits averaging ${((wal('edgeke_wal_fsync_duration_seconds_sum') / wal('edgeke_wal_fsync_duration_seconds_count')) * 1000).toFixed(2)} ms`);
    console.info(`[reliability] P2 outage ${SPILL_OUTAGE_MS} ms, frames ${published}, log max ${maxLogBytes} B of ${walMaxBytes}, taken in during the second half ${handedAtEnd - handedAtHalf}, 0 dropped, 0 missing`);
  });

  it('promise 2: a frame whose result was not stored is not acknowledged, and the broker redelivers it after a restart', async () => {
    // Exit 1 always (the shallowest exit meets any target this low): a redelivered frame gets the same answer, so
    // its point lands in the same series and overwrites the first one. (A frame answered at another exit the second
    // time is a second point: exit and outcome are tags; see docs/reliability.md, limits.)
    const yaml = signalFlowYaml({
      name: 'rel-unacked',
      mqttUrl,
      topic: 'rel/unacked',
      influxUrl: influxd.url,
      database: 'rel_unacked',
      policy: 'mode: accuracy, accuracyTarget: 0.01, deadlineMs: 60000, latePolicy: answer-late',
    });
    // The first instance cannot store every third result (a sink that refuses it): those frames stay unacknowledged.
    const refusing: ResultSink = {
      name: 'refusing',
      write: async (result) => {
        if (Number(result.id.slice(-6)) % 3 === 0) throw new Error('sink refused the result');
      },
      flush: async () => 0,
      close: async () => undefined,
    };
    const first = await startTestService([loadFlow(yaml)], { profileCacheDir: join(dir.path, 'profiles'), extraSinks: () => [refusing] });
    services.push(first);
    await waitFor('source connected', async () => (await first.readiness.evaluate()).ready, 15_000);
    const count = 60;
    await publishSteadily(publisher, 'rel/unacked', { prefix: 'u', ratePerSecond: 200, count }).done;
    await waitFor('first instance answered all', () => first.results.length >= count, 15_000);
    await first.stop(5_000);
    const notStoredLogs = first.lines.filter((line) => line.includes('result not stored; message left unacknowledged'));
    expect(notStoredLogs.length).toBe(count / 3);

    const second = await startTestService([loadFlow(yaml)], { profileCacheDir: join(dir.path, 'profiles') });
    services.push(second);
    await waitFor('redelivered frames answered', () => second.results.length >= count / 3, 15_000);
    // Nothing else comes: the acknowledged frames are not redelivered.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await second.stop(5_000);
    const redelivered = second.results.map((result) => result.id).sort();
    expect(redelivered).toEqual(
      Array.from({ length: count }, (_, index) => seqId('u', index)).filter((_, index) => index % 3 === 0),
    );
    const ids = await storedIds(influxFor(influxd.url, 'rel_unacked'));
    expect(missingIds(ids, 'u', count)).toEqual([]);
    expect(duplicates(ids)).toEqual([]);
  });
});

function logBytes(dir: string): number {
  try {
    return readdirSync(dir)
      .filter((name) => name.endsWith('.log'))
      .reduce((sum, name) => {
        try {
          return sum + statSync(join(dir, name)).size;
        } catch {
          return sum;
        }
      }, 0);
  } catch {
    return 0;
  }
}

import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { InfluxDB } from 'influx';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FrameResult } from '../../../src/core/frame.ts';
import { createInfluxWriter } from '../../../src/sinks/create-influx-writer.ts';
import type { DropEvent, InfluxWriter } from '../../../src/sinks/influx-writer.ts';
import { startInfluxd, type RunningInfluxd } from '../../helpers/influxd.ts';

const FLUSH_INTERVAL_MS = 500;
const WRITE_EVERY_MS = 10;
const OUTAGE_MS = 12_000;

function result(index: number, baseTs: number): FrameResult {
  return {
    flow: 'outage',
    id: `frame-${index}`,
    captureTs: baseTs + index * WRITE_EVERY_MS,
    captureTsSource: 'device',
    model: 'cwru-bearing',
    engine: 'onnx',
    outcome: 'ok',
    exit: 1,
    classIndex: 2,
    className: 'outer',
    confidence: 0.9,
    queueMs: 1,
    inferMs: 1,
    e2eMs: 5,
    deadlineMs: 100,
    deadlineMet: true,
    configVersion: 1,
  };
}

// Its own influxd, stopped and restarted under steady writes, with a small memory buffer so the outage also
// exercises the disk spill.
describe('InfluxDB sink through an InfluxDB outage', () => {
  let dir: string;
  let influxd: RunningInfluxd;
  let writer: InfluxWriter;
  const drops: DropEvent[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgeke-outage-'));
    influxd = await startInfluxd({ dir: join(dir, 'influxd') });
    writer = await createInfluxWriter('outage', {
      url: influxd.url,
      database: 'edgeke_outage',
      retentionPolicy: { name: 'edgeke', duration: '1d' },
      batchSize: 200,
      flushIntervalMs: FLUSH_INTERVAL_MS,
      bufferMaxPoints: 400,
      walDir: join(dir, 'spill'),
      spillMaxBytes: 50 * 1024 * 1024,
      statsIntervalMs: 60_000,
    }, { logger: pino({ level: process.env.EDGEKE_TEST_LOG ?? 'silent' }) });
    writer.drops$.subscribe((drop) => drops.push(drop));
  });

  afterAll(async () => {
    await writer?.close(2_000);
    await influxd?.process.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps every point through a stop and restart and writes each exactly once, draining within two flush intervals', async () => {
    const baseTs = Date.now() - 60_000;
    let written = 0;
    let writing = true;
    const pending: Promise<void>[] = [];
    const producer = (async () => {
      while (writing) {
        pending.push(writer.write(result(written, baseTs)));
        written += 1;
        await sleep(WRITE_EVERY_MS);
      }
    })();

    await sleep(3_000);
    await influxd.process.stop();
    const stoppedAt = written;
    await sleep(OUTAGE_MS);
    expect(writer.bufferedPoints).toBeGreaterThan(written - stoppedAt - 50);
    // More than the memory bound (400) waits: all of it in the write-ahead log, on disk.
    expect(writer.bufferedPoints).toBeGreaterThan(400);
    expect(readdirSync(join(dir, 'spill')).filter((name) => name.endsWith('.log')).map((name) => statSync(join(dir, 'spill', name)).size).reduce((a, b) => a + b, 0)).toBeGreaterThan(400 * 200);
    await influxd.process.start();
    const recoveredAt = Date.now();
    // The writer keeps going during recovery: wait until what was buffered during the outage is gone.
    while (writer.bufferedPoints > 100 && Date.now() - recoveredAt < 10_000) await sleep(20);
    const drainMs = Date.now() - recoveredAt;
    writing = false;
    await producer;
    await Promise.all(pending);
    const report = await writer.flush(10_000);

    expect(report.remaining).toBe(0);
    expect(drops).toEqual([]);
    expect(drainMs).toBeLessThanOrEqual(2 * FLUSH_INTERVAL_MS);

    await expectExactlyOnce(influxd.port, 'outage', written);
  });

  it('treats a frozen InfluxDB (half-open connection) as down after the request timeout, without duplicates', async () => {
    const frozenWriter = await createInfluxWriter('frozen', {
      url: influxd.url,
      database: 'edgeke_outage',
      retentionPolicy: { name: 'edgeke', duration: '1d' },
      batchSize: 100,
      flushIntervalMs: FLUSH_INTERVAL_MS,
      bufferMaxPoints: 10_000,
      spillMaxBytes: 1_000_000,
      statsIntervalMs: 60_000,
    }, { logger: pino({ level: process.env.EDGEKE_TEST_LOG ?? 'silent' }), requestTimeoutMs: 1_000, stateDir: join(dir, 'state') });
    const baseTs = Date.now() - 30_000;
    let written = 0;
    const writeSome = async (count: number) => {
      for (let index = 0; index < count; index += 1) await frozenWriter.write({ ...result(written++, baseTs), flow: 'frozen' });
    };
    try {
      await writeSome(100);
      await frozenWriter.flush(5_000);
      influxd.process.pause();
      await writeSome(300);
      await sleep(3_000);
      // Requests to the frozen server timed out and were kept for retry (InfluxDB may still apply them on resume:
      // the deterministic timestamps make that an overwrite, not a duplicate).
      expect(frozenWriter.bufferedPoints).toBeGreaterThan(0);
      influxd.process.resume();
      // A request sent while frozen may still time out after the resume; flush returns early when a retry fails, so
      // flush again until the log is empty or the deadline passes (the writer keeps retrying in the background).
      const resumedAt = Date.now();
      let report = await frozenWriter.flush(15_000);
      while (report.remaining > 0 && Date.now() - resumedAt < 15_000) {
        await sleep(100);
        report = await frozenWriter.flush(15_000 - (Date.now() - resumedAt));
      }
      expect(report.remaining).toBe(0);
      expect(frozenWriter.droppedPoints).toBe(0);
    } finally {
      influxd.process.resume();
      await frozenWriter.close(2_000);
    }
    await expectExactlyOnce(influxd.port, 'frozen', written);
  });
});

async function expectExactlyOnce(port: number, flow: string, written: number): Promise<void> {
  const influx = new InfluxDB({ host: '127.0.0.1', port, database: 'edgeke_outage' });
  const [count] = await influx.query<{ count: number }>(`SELECT COUNT("id") AS "count" FROM "edgeke"."inference" WHERE "flow" = '${flow}'`);
  expect(count?.count).toBe(written);
  const ids = await influx.query<{ id: string }>(`SELECT "id" FROM "edgeke"."inference" WHERE "flow" = '${flow}'`);
  expect(new Set(ids.map((row) => row.id)).size).toBe(written);
}

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FrameResult } from '../../../src/core/frame.ts';
import { createInfluxWriter } from '../../../src/sinks/create-influx-writer.ts';
import { startInfluxd, type RunningInfluxd } from '../../helpers/influxd.ts';

const PASSWORD = 'pa55-w0rd-that-must-not-leak';

function result(id: string): FrameResult {
  return {
    flow: 'auth', id, captureTs: Date.now() - 1_000, captureTsSource: 'receive', model: 'm', engine: 'onnx', outcome: 'error', reason: 'bad-json',
    queueMs: 0, inferMs: 0, e2eMs: 1, deadlineMs: 100, deadlineMet: false, configVersion: 1,
  };
}

function settings(url: string, password: string) {
  return { url, username: 'edgeke', password, database: 'edgeke_auth', retentionPolicy: { name: 'edgeke', duration: '1d' }, batchSize: 10, flushIntervalMs: 100, bufferMaxPoints: 1000, spillMaxBytes: 1_000_000, statsIntervalMs: 60_000 };
}

// Its own influxd with authentication on: the sink writes with credentials, and with wrong ones it keeps the points,
// retries, and says so without ever logging the password.
describe('InfluxDB sink with authentication', () => {
  let dir: string;
  let influxd: RunningInfluxd;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgeke-auth-'));
    influxd = await startInfluxd({ dir: join(dir, 'influxd'), authEnabled: true });
    const created = await fetch(`${influxd.url}/query`, { method: 'POST', body: new URLSearchParams({ q: `CREATE USER edgeke WITH PASSWORD '${PASSWORD}' WITH ALL PRIVILEGES` }) });
    expect(created.status).toBe(200);
  });

  afterAll(async () => {
    await influxd?.process.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes with the right credentials', async () => {
    const writer = await createInfluxWriter('auth', settings(influxd.url, PASSWORD), { logger: pino({ level: 'silent' }), stateDir: join(dir, 'state-right') });
    await writer.write(result('with-password'));
    const report = await writer.close(10_000);
    expect(report.remaining).toBe(0);
    expect(writer.droppedPoints).toBe(0);
  });

  it('keeps points and retries with wrong credentials, logging one line without the password', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
    const writer = await createInfluxWriter('auth', settings(influxd.url, `${PASSWORD}-wrong`), { logger, stateDir: join(dir, 'state-wrong') });
    await writer.write(result('wrong-password'));
    await sleep(1_000);
    expect(writer.isReady).toBe(false);
    expect(writer.bufferedPoints).toBe(1);
    expect(writer.droppedPoints).toBe(0);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('check sinks.influx credentials');
    expect(lines.join('\n')).not.toContain(PASSWORD);
    await writer.close(100);
  });
});

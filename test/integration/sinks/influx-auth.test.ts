import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
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
  async function admin(q: string): Promise<void> {
    const auth = `Basic ${Buffer.from(`edgeke:${PASSWORD}`).toString('base64')}`;
    const response = await fetch(`${influxd.url}/query`, { method: 'POST', headers: { authorization: auth }, body: new URLSearchParams({ q }) });
    expect(response.status, q).toBe(200);
  }

  async function count(database: string): Promise<number> {
    const auth = `Basic ${Buffer.from(`edgeke:${PASSWORD}`).toString('base64')}`;
    const response = await fetch(`${influxd.url}/query?${new URLSearchParams({ db: database, q: 'SELECT count("id") FROM "edgeke"."inference"' })}`, { headers: { authorization: auth } });
    const body = (await response.json()) as { results: { series?: { values: [string, number][] }[] }[] };
    return body.results[0]?.series?.[0]?.values[0]?.[1] ?? 0;
  }

  it('works with a write-only user when the database exists (it may not create it)', async () => {
    await admin('CREATE DATABASE edgeke_wo');
    await admin('CREATE RETENTION POLICY edgeke ON edgeke_wo DURATION 1d REPLICATION 1 DEFAULT');
    await admin("CREATE USER writer WITH PASSWORD 'writer-pass'");
    await admin('GRANT WRITE ON edgeke_wo TO writer');
    const config = { ...settings(influxd.url, 'writer-pass'), username: 'writer', database: 'edgeke_wo' };
    const writer = await createInfluxWriter('auth', config, { logger: pino({ level: 'silent' }), stateDir: join(dir, 'state-wo') });
    for (let index = 0; index < 5; index += 1) await writer.write(result(`write-only-${index}`));
    const report = await writer.close(10_000);
    expect(report.remaining).toBe(0);
    expect(writer.droppedPoints).toBe(0);
    expect(await count('edgeke_wo')).toBe(5);
  });

  it('keeps points through a password rotation (401) and a dropped database (404), and writes them once fixed', async () => {
    await admin("CREATE USER rotating WITH PASSWORD 'old-pass' WITH ALL PRIVILEGES");
    const config = { ...settings(influxd.url, 'old-pass'), username: 'rotating', database: 'edgeke_rot' };
    const writer = await createInfluxWriter('auth', config, { logger: pino({ level: 'silent' }), stateDir: join(dir, 'state-rot') });
    await writer.write(result('before'));
    await writer.flush(5_000);
    expect(await count('edgeke_rot')).toBe(1);
    await admin("SET PASSWORD FOR rotating = 'new-pass'");
    await writer.write(result('during-rotation'));
    await sleep(1_000);
    expect(writer.bufferedPoints).toBe(1);
    await admin("SET PASSWORD FOR rotating = 'old-pass'");
    await admin('DROP DATABASE edgeke_rot');
    await writer.write(result('after-drop'));
    // The database is set up again (404 retried), and both waiting points are written.
    const deadline = Date.now() + 10_000;
    while (writer.bufferedPoints > 0 && Date.now() < deadline) await sleep(50);
    expect(writer.bufferedPoints).toBe(0);
    expect(await count('edgeke_rot')).toBe(2);
    expect(writer.droppedPoints).toBe(0);
    await writer.close(2_000);
  });

  it('sends credentials in an Authorization header, never in the URL', async () => {
    const seen: { url: string; authorization: string | undefined }[] = [];
    // A relay in front of influxd that records each request line and header, as a proxy or an access log would.
    const relay = createServer((incoming, outgoing) => {
      seen.push({ url: incoming.url ?? '', authorization: incoming.headers.authorization });
      const upstream = httpRequest(`${influxd.url}${incoming.url ?? ''}`, { method: incoming.method, headers: incoming.headers }, (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      });
      incoming.pipe(upstream);
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(relay.address() as { port: number }).port}`;
      const writer = await createInfluxWriter('auth', settings(url, PASSWORD), { logger: pino({ level: 'silent' }), stateDir: join(dir, 'state-relay') });
      await writer.write(result('through-relay'));
      const report = await writer.close(10_000);
      expect(report.remaining).toBe(0);
      expect(seen.length).toBeGreaterThanOrEqual(2);
      for (const request of seen) {
        expect(request.url).not.toContain(PASSWORD);
        expect(request.url).not.toMatch(/[?&](u|p)=/);
        expect(request.authorization).toBe(`Basic ${Buffer.from(`edgeke:${PASSWORD}`).toString('base64')}`);
      }
    } finally {
      await new Promise((resolve) => relay.close(resolve));
    }
  });
});

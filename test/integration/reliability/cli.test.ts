import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../helpers/free-port.ts';
import { exitWithin, runEdgeke, type EdgekeChild } from '../../helpers/edgeke-child.ts';
import {
  connectPublisher,
  duplicates,
  influxFor,
  loadFlow,
  missingIds,
  publishSteadily,
  signalFlowYaml,
  startTestService,
  storedIds,
  tempDir,
  waitFor,
  type TestService,
} from './harness.ts';

// Promises 9 (SIGTERM drain of a real `edgeke run` child) and 10 (bad flow files: exit non-zero before any
// connection, file and path named, no secret echoed).

type Child = EdgekeChild;


describe('edgeke run as a child process', () => {
  const mqttUrl = inject('mosquittoUrl');
  const influxUrl = inject('influxUrl');
  const dir = tempDir('cli');
  const children: Child[] = [];
  const services: TestService[] = [];
  let publisher: MqttClient;

  beforeAll(async () => {
    publisher = await connectPublisher(mqttUrl, 'rel-cli-publisher');
  });
  afterAll(async () => {
    for (const child of children) if (child.process.exitCode === null) child.process.kill('SIGKILL');
    await Promise.all(services.map((running) => running.stop(2_000)));
    await publisher?.endAsync();
    dir.remove();
  });

  it('promise 9: SIGTERM mid-stream drains and flushes, exits 0, and acknowledges nothing it did not store', async () => {
    const flow = 'rel-sigterm';
    const database = 'rel_sigterm';
    const yaml = signalFlowYaml({ name: flow, mqttUrl, topic: 'rel/sigterm', influxUrl, database, influx: 'flushIntervalMs: 1000' });
    const file = join(dir.path, 'sigterm.yaml');
    writeFileSync(file, yaml);
    const httpPort = await freePort();
    const child = runEdgeke([file, '--no-watch', '--drain-timeout-ms', '10000'], { EDGEKE_HTTP_PORT: String(httpPort) });
    children.push(child);
    await waitFor('child ready', async () => (await fetch(`http://127.0.0.1:${httpPort}/readyz`).catch(() => undefined))?.status === 200, 60_000, 100);

    const load = publishSteadily(publisher, 'rel/sigterm', { prefix: 'st', ratePerSecond: 100 });
    const influx = influxFor(influxUrl, database);
    await waitFor('child storing frames', async () => (await storedIds(influx)).length >= 100, 30_000, 200);
    child.process.kill('SIGTERM');
    const signalledAt = Date.now();
    const code = await exitWithin(child, 20_000);
    const stopMs = Date.now() - signalledAt;
    // The device keeps publishing; the broker holds what the stopped child did not acknowledge.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const published = await load.stop();
    const storedByChild = new Set(await storedIds(influx)).size;

    // The next instance (same client id, persistent session) gets every frame the child did not acknowledge.
    const next = await startTestService([loadFlow(yaml)], { profileCacheDir: join(dir.path, 'profiles') });
    services.push(next);
    await waitFor('the rest answered', async () => missingIds(await storedIds(influx), 'st', published).length === 0, 30_000, 200);
    await next.stop(5_000);

    const ids = await storedIds(influx);
    expect(code).toBe(0);
    expect(child.output()).toContain('stopped cleanly');
    expect(missingIds(ids, 'st', published)).toEqual([]);
    expect(duplicates(ids)).toEqual([]);
    // What the next instance answered is exactly what the child had not stored (acknowledged ⇒ stored).
    const redelivered = new Set(next.results.map((result) => result.id));
    expect(redelivered.size + storedByChild).toBeGreaterThanOrEqual(published);
    console.info(`[reliability] P9 SIGTERM after ${storedByChild} stored: exit ${code} in ${stopMs} ms; ${published} published, ${redelivered.size} answered by the next instance, 0 missing`);
  });

  describe('promise 10: bad flow files', () => {
    const secret = 'sUp3r-s3cret-Pa55';
    let listener: Server;
    let connections = 0;
    let port = 0;

    beforeAll(async () => {
      listener = createServer((socket) => {
        connections += 1;
        socket.destroy();
      });
      await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
      port = (listener.address() as { port: number }).port;
    });
    afterAll(async () => {
      await new Promise((resolve) => listener.close(resolve));
    });

    const base = (name: string, source: string, extra = ''): string => `
name: ${name}
source: ${source}
decode: json-values
model: { path: test/fixtures/tiny-model/signal }
sinks:
  influx: { url: "http://127.0.0.1:PORT", username: edgeke, password: "\${INFLUX_PASSWORD}" }
${extra}`;
    const mqtt = (extra = ''): string => `{ kind: mqtt, url: "mqtt://127.0.0.1:PORT", topic: "rel/bad", username: edgeke, password: "\${MQTT_PASSWORD}"${extra} }`;
    const cases: { name: string; files: Record<string, string>; path: string }[] = [
      { name: 'schema error (qos 2)', files: { 'qos.yaml': base('bad-qos', mqtt(', qos: 2')) }, path: 'source.qos' },
      { name: 'unknown key', files: { 'unknown.yaml': base('bad-key', mqtt(', keepalive: 5')) }, path: 'source' },
      { name: 'bad topic filter', files: { 'topic.yaml': base('bad-topic', mqtt().replace('rel/bad', 'rel/#/bad')) }, path: 'source.topic' },
      {
        name: 'bad node id',
        files: { 'node.yaml': base('bad-node', '{ kind: opcua, endpoint: "opc.tcp://127.0.0.1:PORT/x", nodeIds: ["ns=1;q=nope"] }').replace('json-values', 'opcua-samples') },
        path: 'source.nodeIds.0',
      },
      { name: 'duplicate names', files: { 'one.yaml': base('same-name', mqtt()), 'two.yaml': base('same-name', mqtt()) }, path: 'name' },
      { name: 'password written literally', files: { 'literal.yaml': base('literal', mqtt().replace('${MQTT_PASSWORD}', secret)) }, path: 'source.password' },
    ];

    for (const testCase of cases) {
      it(`${testCase.name}: exits non-zero before any connection, names file and path, echoes no secret`, async () => {
        const caseDir = join(dir.path, testCase.name.replace(/\W+/g, '-'));
        mkdirSync(caseDir, { recursive: true });
        for (const [file, text] of Object.entries(testCase.files)) writeFileSync(join(caseDir, file), text.replaceAll('PORT', String(port)));
        const before = connections;
        const child = runEdgeke([caseDir, '--no-watch'], { MQTT_PASSWORD: secret, INFLUX_PASSWORD: secret, EDGEKE_HTTP_PORT: '0' });
        children.push(child);
        const code = await exitWithin(child, 30_000);
        const output = child.output();
        expect(code).not.toBe(0);
        expect(code).not.toBeNull();
        expect(connections - before).toBe(0);
        for (const file of Object.keys(testCase.files)) expect(output).toContain(file);
        expect(output).toContain(testCase.path);
        expect(output).not.toContain(secret);
      });
    }
  });

  it('shutdown while InfluxDB is unreachable: the results are in the write-ahead log, exit 0; a second signal exits 1 at once', async () => {
    // Refused connections (nobody listens): every result is durable in the log, so the stop is clean and says so.
    // Hung connections (accepted, never answered): the stop waits on the request, and a second signal cuts it short.
    const held: Socket[] = [];
    const hung = createServer((socket) => void held.push(socket));
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    const cases = [
      { name: 'rel-down-stop', influx: `http://127.0.0.1:${await freePort()}`, drainMs: '1500', signals: 1, code: 0, said: /stopped cleanly/ },
      { name: 'rel-second-signal', influx: `http://127.0.0.1:${(hung.address() as { port: number }).port}`, drainMs: '60000', signals: 2, code: 1, said: /second signal/ },
    ];
    try {
      for (const testCase of cases) {
        const file = join(dir.path, `${testCase.name}.yaml`);
        writeFileSync(file, signalFlowYaml({ name: testCase.name, mqttUrl, topic: `rel/${testCase.name}`, influxUrl: testCase.influx, database: 'unreachable', influx: `walDir: "${join(dir.path, `wal-${testCase.name}`)}"` }));
        const child = runEdgeke([file, '--no-watch', '--drain-timeout-ms', testCase.drainMs], { EDGEKE_HTTP_PORT: '0' });
        children.push(child);
        await waitFor(`${testCase.name} started`, () => child.output().includes('mqtt source connected'), 60_000, 100);
        const load = publishSteadily(publisher, `rel/${testCase.name}`, { prefix: testCase.name, ratePerSecond: 50, count: 20 });
        await waitFor('frames published', () => load.published() >= 20, 10_000, 50);
        await new Promise((resolve) => setTimeout(resolve, 500));
        const signalledAt = Date.now();
        child.process.kill('SIGTERM');
        if (testCase.signals === 2) {
          await new Promise((resolve) => setTimeout(resolve, 300));
          child.process.kill('SIGTERM');
        }
        const code = await exitWithin(child, 8_000);
        expect(code, `${testCase.name}: ${child.output().slice(-2000)}`).toBe(testCase.code);
        expect(Date.now() - signalledAt).toBeLessThan(8_000);
        expect(child.output()).toMatch(testCase.said);
        if (testCase.signals === 1) {
          expect(child.output()).toContain('they are in the write-ahead log');
          expect(child.output()).not.toContain('were not acknowledged');
        }
      }
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise((resolve) => hung.close(resolve));
    }
  }, 120_000);
});

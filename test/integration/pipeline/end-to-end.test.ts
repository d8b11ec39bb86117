import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InfluxDB } from 'influx';
import mqtt from 'mqtt';
import pino from 'pino';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createMqttResultSink } from '../../../src/sinks/mqtt-result-sink.ts';
import { EdgekeService } from '../../../src/pipeline/service.ts';
import { startCameraSimulator } from '../../../src/simulators/camera-simulator.ts';
import { interleaveByClass, loadCwruTestSplit } from '../../../src/simulators/cwru-recordings.ts';
import { startOpcuaVibrationServer } from '../../../src/simulators/opcua-vibration-server.ts';
import { ClassTimeline } from '../../../src/demo/class-timeline.ts';
import { loadFlow } from '../../helpers/flow-from-yaml.ts';
import { waitFor } from '../../helpers/wait-for.ts';

// Frames published over MQTT and OPC UA end as InfluxDB points and results-topic messages, with the shipped models,
// every frame accounted for exactly once, and (with loose deadlines) the final exit's accuracy.

const logger = pino({ level: 'silent' });
const profileCacheDir = mkdtempSync(join(tmpdir(), 'edgeke-e2e-profiles-'));

interface Manifest {
  classes: string[];
  exits: { testAccuracy: number }[];
}
const manifestOf = (dir: string): Manifest => JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;

describe('end to end with the shipped models', () => {
  const influxUrl = inject('influxUrl');
  const mosquittoUrl = inject('mosquittoUrl');
  const influxPort = Number(new URL(influxUrl).port);
  let service: EdgekeService | undefined;

  afterAll(async () => {
    await service?.stop(10_000);
  });

  it('NEU camera frames over MQTT: one point and one result message per frame, final-exit accuracy', async () => {
    const database = 'e2e_camera';
    const manifest = manifestOf('models/neu-surface');
    const flow = loadFlow(
      `
name: e2e-camera
source: { kind: mqtt, url: "${mosquittoUrl}", topic: "e2e/+/camera", qos: 1, clientId: e2e-camera }
decode: image
model: { path: models/neu-surface }
policy: { mode: deadline, deadlineMs: 60000, latePolicy: answer-late }
batching: { maxBatch: 8, maxWaitMs: 5 }
sinks:
  influx: { url: "${influxUrl}", database: ${database}, flushIntervalMs: 200 }
  mqttResults: { topic: e2e/camera/results }
limits: { queueCapacity: 512 }
`,
      {},
    );
    const results = await mqtt.connectAsync(mosquittoUrl, { protocolVersion: 5, clientId: 'e2e-results-reader' });
    const received: { id: string; class: string; outcome: string }[] = [];
    results.on('message', (_topic, payload) => received.push(JSON.parse(payload.toString()) as { id: string; class: string; outcome: string }));
    await results.subscribeAsync('e2e/camera/results', { qos: 1 });

    service = await EdgekeService.start([flow], {
      logger,
      profileCacheDir,
      profileRepeats: 5,
      mqttResultsSink: async (config, classes, log) => createMqttResultSink(config, classes, log),
    });
    const camera = await startCameraSimulator({
      url: mosquittoUrl,
      topic: 'e2e/cam1/camera',
      imagesFolder: 'data/neu-surface/test',
      classes: manifest.classes,
      ratePerSecond: 100,
      format: 'json',
      protocolVersion: 5,
      limit: 359,
    });
    await camera.finished;
    await camera.stop();

    const influx = new InfluxDB({ host: '127.0.0.1', port: influxPort, database });
    const countPoints = async (): Promise<number> => {
      const rows = await influx.query<{ count: number }>('SELECT count("e2e_ms") AS "count" FROM "inference"').catch(() => []);
      return rows[0]?.count ?? 0;
    };
    await waitFor('every frame stored and published', async () => (await countPoints()) >= 359 && received.length >= 359, 120_000, 200);
    await service.stop(10_000);
    service = undefined;
    await results.endAsync();

    expect(await countPoints()).toBe(359);
    const rows = await influx.query<{ id: string; correct: boolean; outcome: string }>('SELECT "id", "correct", "outcome" FROM "inference"');
    expect(new Set(rows.map((row) => row.id)).size).toBe(359);
    expect(new Set(received.map((message) => message.id)).size).toBe(359);
    const accuracy = rows.filter((row) => row.correct).length / rows.length;
    const finalExit = manifest.exits.at(-1)?.testAccuracy ?? 1;
    expect(Math.abs(accuracy - finalExit)).toBeLessThanOrEqual(0.02);
    const stats = await influx.query<{ frames: number }>('SELECT sum("frames") AS "frames" FROM "flow_stats"');
    expect(stats[0]?.frames).toBe(359);
  });

  it('CWRU vibration over OPC UA: windows joined from sample blocks, stored, published on the results topic, final-exit accuracy', async () => {
    const database = 'e2e_vibration';
    const manifest = manifestOf('models/cwru-bearing');
    const cwru = await loadCwruTestSplit('data/cwru-bearing/test');
    // Real time (12 kHz in blocks of 1,200 every 100 ms); each class plays 2 s, so 20 s cover all ten.
    const server = await startOpcuaVibrationServer({ recordings: interleaveByClass(cwru.recordings), holdSamples: 24_000 });
    const timeline = new ClassTimeline();
    const timer = setInterval(() => timeline.note(Date.now(), server.currentClass().label), 5);
    try {
      const flow = loadFlow(
        `
name: e2e-vibration
source:
  kind: opcua
  endpoint: "${server.endpoint}"
  nodeIds: ["${server.nodeIds.signal}"]
  samplingIntervalMs: 0
  certificateStore: ${join(profileCacheDir, 'pki')}
  window: { by: count, samples: 2048 }
decode: opcua-samples
model: { path: models/cwru-bearing }
policy: { mode: deadline, deadlineMs: 60000, latePolicy: answer-late }
sinks:
  influx: { url: "${influxUrl}", database: ${database}, flushIntervalMs: 200 }
  mqttResults: { url: "${mosquittoUrl}", topic: e2e/vibration/results }
`,
        {},
      );
      const reader = await mqtt.connectAsync(mosquittoUrl, { protocolVersion: 5, clientId: 'e2e-vibration-results-reader' });
      const messages: { id: string; class: string }[] = [];
      reader.on('message', (_topic, payload) => messages.push(JSON.parse(payload.toString()) as { id: string; class: string }));
      await reader.subscribeAsync('e2e/vibration/results', { qos: 1 });
      const results: { id: string; captureTs: number; classIndex?: number; className?: string }[] = [];
      service = await EdgekeService.start([flow], {
        logger,
        profileCacheDir,
        profileRepeats: 5,
        onResult: (result) => results.push(result),
        mqttResultsSink: async (config, classes, log) => createMqttResultSink(config, classes, log),
      });
      await waitFor('120 windows answered', () => results.length >= 120, 120_000, 200);
      await service.stop(10_000);
      service = undefined;
      await waitFor('a results message per window', () => messages.length >= results.length, 10_000, 200);
      await reader.endAsync();
      // One results-topic message per frame, with the class the service answered.
      const answered = new Map(results.map((result) => [result.id, result.className]));
      expect(new Set(messages.map((message) => message.id)).size).toBe(results.length);
      for (const message of messages) expect(message.class).toBe(answered.get(message.id));

      const influx = new InfluxDB({ host: '127.0.0.1', port: influxPort, database });
      const rows = await influx.query<{ count: number }>('SELECT count("e2e_ms") AS "count" FROM "inference"');
      expect(rows[0]?.count).toBe(results.length);
      const windowMs = (2048 / 12_000) * 1000;
      const scored = results
        .map((result) => ({ result, label: timeline.labelDuring(result.captureTs - 150, result.captureTs + windowMs + 150) }))
        .filter((entry) => entry.label !== undefined);
      expect(scored.length).toBeGreaterThan(80);
      const accuracy = scored.filter((entry) => entry.label === entry.result.classIndex).length / scored.length;
      const finalExit = manifest.exits.at(-1)?.testAccuracy ?? 1;
      expect(Math.abs(accuracy - finalExit)).toBeLessThanOrEqual(0.02);
    } finally {
      clearInterval(timer);
      await server.stop();
    }
  });
});

import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectPublisher, influxFor, loadFlow, signalFlowYaml, signalPayload, startTestService, tempDir, waitFor, type TestService } from './harness.ts';
import { LINE_PROTOCOL_HOSTILE } from '../../helpers/hostile-strings.ts';

// Promise 11, end to end: the writer's escaping is tested against InfluxDB in test/integration/sinks/
// influx-escaping.test.ts; here the hostile strings come from the device (the frame id is the one string a device
// controls that reaches line protocol) through MQTT, the decoder and the pipeline, all in one write batch.

const HOSTILE = [
  ...LINE_PROTOCOL_HOSTILE,
  'inference,flow=x id="injected" 1',
  'a\\"b\\\\',
];

describe('line-protocol injection from the device, through the service', () => {
  const mqttUrl = inject('mosquittoUrl');
  const influxUrl = inject('influxUrl');
  const dir = tempDir('line-protocol');
  let publisher: MqttClient;
  let running: TestService | undefined;

  beforeAll(async () => {
    publisher = await connectPublisher(mqttUrl, 'rel-lp-publisher');
  });
  afterAll(async () => {
    await running?.stop(2_000);
    await publisher?.endAsync(true);
    dir.remove();
  });

  it('promise 11: hostile frame ids (JSON and MQTT user property) come back identical or are rejected alone, never breaking the batch', { timeout: 40_000 }, async () => {
    const database = 'rel_line_protocol';
    running = await startTestService(
      [loadFlow(signalFlowYaml({ name: 'rel-lp', mqttUrl, topic: 'rel/lp', influxUrl, database, influx: 'batchSize: 500, flushIntervalMs: 1000' }))],
      { profileCacheDir: join(dir.path, 'profiles') },
    );
    await waitFor('ready', async () => (await running!.readiness.evaluate()).ready, 15_000);
    const ts = Date.now() - 1_000;
    const sent: string[] = [];
    for (const [index, id] of HOSTILE.entries()) {
      // In the JSON envelope, and (for the same string with a suffix) as the MQTT 5 user property over a JSON body
      // without an id.
      await publisher.publishAsync('rel/lp', signalPayload(id, ts + index * 2), { qos: 1 });
      sent.push(id);
      // Mosquitto drops the connection of a client whose UTF-8 strings hold control characters (MQTT 5 1.5.4):
      // those ids can only come in the payload.
      if (![...id].some((char) => char.charCodeAt(0) < 0x20)) {
        const propertyId = `${id}|prop`;
        const body = JSON.parse(signalPayload('x', ts + index * 2 + 1).toString()) as Record<string, unknown>;
        delete body.id;
        await publisher.publishAsync('rel/lp', Buffer.from(JSON.stringify(body)), { qos: 1, properties: { userProperties: { id: propertyId } } });
        sent.push(propertyId);
      }
      await publisher.publishAsync('rel/lp', signalPayload(`neighbour-${index}`, ts + 100 + index), { qos: 1 });
    }
    await waitFor('all answered', () => running!.results.length >= sent.length + HOSTILE.length, 15_000);
    expect(await running.stop(10_000)).toBe(true);

    const rows = await influxFor(influxUrl, database).query<{ id: string; outcome: string }>('SELECT "id", "outcome" FROM "edgeke"."inference"');
    const stored = new Set(rows.map((row) => row.id));
    const results = new Map(running.results.map((result) => [result.id, result]));
    const roundTripped = sent.filter((id) => stored.has(id));
    const rejected = sent.filter((id) => !stored.has(id));
    // Rejected means: answered with an error outcome (counted), never silently missing from InfluxDB.
    for (const id of rejected) expect(results.get(id)?.outcome, `id ${JSON.stringify(id)}`).toBe('error');
    for (let index = 0; index < HOSTILE.length; index += 1) expect(stored.has(`neighbour-${index}`)).toBe(true);
    // Nothing leaked into other points or measurements (an injected line would add a point).
    expect(rows.length).toBe(roundTripped.length + HOSTILE.length);
    expect(roundTripped.length).toBeGreaterThan(sent.length / 2);
    const measurements = await influxFor(influxUrl, database).getMeasurements();
    expect(measurements.sort()).toEqual(['flow_stats', 'inference']);
    console.info(`[reliability] P11 ${sent.length} hostile ids: ${roundTripped.length} stored identical, ${rejected.length} rejected with an error outcome (${rejected.map((id) => JSON.stringify(id)).join(' ')}); ${HOSTILE.length}/${HOSTILE.length} neighbours stored`);
  });
});

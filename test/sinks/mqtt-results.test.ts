import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseFlowText } from '../../src/flows/load.ts';
import { createMqttResultsPublisher, resultsClientOptions } from '../../src/sinks/create-mqtt-results-publisher.ts';
import type { ResultsMqttClient, ResultsMqttOptions } from '../../src/sinks/mqtt-results-client.ts';
import { MqttResultsPublisher, resultMessage } from '../../src/sinks/mqtt-results.ts';
import { recordingLogger, result, silentLogger } from './fakes.ts';

class FakeResultsClient implements ResultsMqttClient {
  readonly sent: { topic: string; payload: unknown; qos: number }[] = [];
  connected = true;
  ended = false;
  private waiting: (() => void)[] = [];
  hold = false;

  async publish(topic: string, payload: Buffer, qos: 0 | 1): Promise<void> {
    if (!this.connected) throw new Error('client disconnecting');
    if (this.hold) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.sent.push({ topic, payload: JSON.parse(payload.toString()), qos });
  }

  release(): void {
    this.hold = false;
    for (const resolve of this.waiting.splice(0)) resolve();
  }

  async end(): Promise<void> {
    this.ended = true;
  }
}

describe('result messages', () => {
  it('carries what a consumer needs, with the label name when the classes are known', () => {
    expect(resultMessage(result('f-1', { label: 0 }), ['crazing', 'inclusion'])).toEqual({
      flow: 'line1',
      id: 'f-1',
      capture_ts: 1_764_000_000_000,
      capture_ts_source: 'device',
      outcome: 'ok',
      exit: 2,
      class: 'inclusion',
      class_index: 1,
      label: 0,
      label_name: 'crazing',
      confidence: 0.93,
      queue_ms: 1.5,
      infer_ms: 4.25,
      e2e_ms: 12.5,
      deadline_ms: 50,
      deadline_met: true,
      config_version: 3,
      model_version: '3fa9c2d1e0b4',
    });
  });

  it('says why a frame was shed', () => {
    const shed = resultMessage(result('f-2', { outcome: 'shed', reason: 'no-slack', exit: undefined, className: undefined, classIndex: undefined, confidence: undefined }));
    expect(shed).toMatchObject({ outcome: 'shed', reason: 'no-slack' });
    expect(shed).not.toHaveProperty('class');
    expect(shed).not.toHaveProperty('exit');
  });
});

describe('MqttResultsPublisher', () => {
  it('publishes one JSON message per frame on the results topic with the configured QoS', async () => {
    const client = new FakeResultsClient();
    const publisher = new MqttResultsPublisher({ flow: 'line1', topic: 'plant/results', qos: 1, client, logger: silentLogger });
    await publisher.publish(result('a'));
    await publisher.publish(result('b'));
    expect(client.sent.map((message) => [message.topic, (message.payload as { id: string }).id, message.qos])).toEqual([
      ['plant/results', 'a', 1],
      ['plant/results', 'b', 1],
    ]);
    expect(publisher.published).toBe(2);
  });

  it('bounds what waits for the broker and counts what it drops, never rejecting', async () => {
    const client = new FakeResultsClient();
    client.hold = true;
    const publisher = new MqttResultsPublisher({ flow: 'line1', topic: 't', qos: 1, client, logger: silentLogger, maxPending: 3 });
    const drops: string[] = [];
    publisher.drops$.subscribe((drop) => drops.push(`${drop.reason}:${drop.id}`));
    const deliveries = ['a', 'b', 'c', 'd', 'e'].map((id) => publisher.publish(result(id)));
    expect(publisher.pending).toBe(3);
    expect(drops).toEqual(['queue-full:d', 'queue-full:e']);
    client.release();
    await Promise.all(deliveries);
    expect(publisher.published).toBe(3);
    expect(publisher.dropped).toBe(2);
  });

  it('counts failed publishes and logs once per failure streak', async () => {
    const client = new FakeResultsClient();
    const { logger, lines } = recordingLogger();
    const publisher = new MqttResultsPublisher({ flow: 'line1', topic: 't', qos: 1, client, logger });
    client.connected = false;
    await publisher.publish(result('a'));
    await publisher.publish(result('b'));
    client.connected = true;
    await publisher.publish(result('c'));
    expect(publisher.dropped).toBe(2);
    expect(lines().map((line) => line.msg)).toEqual(['mqtt results: publish failed, results are being dropped', 'mqtt results: publishing again']);
    await publisher.close();
    expect(client.ended).toBe(true);
    await publisher.publish(result('late'));
    expect(publisher.dropped).toBe(3);
  });
});

describe('results message schema (docs/telemetry.md)', () => {
  interface PropertySchema {
    type?: 'string' | 'number' | 'integer' | 'boolean';
    enum?: string[];
  }
  const doc = readFileSync(new URL('../../docs/telemetry.md', import.meta.url), 'utf8');
  const block = /## Results message[\s\S]*?```json\n([\s\S]*?)\n```/.exec(doc)?.[1] ?? '{}';
  const schema = JSON.parse(block) as { required: string[]; properties: Record<string, PropertySchema>; additionalProperties: boolean };

  function problems(message: Record<string, unknown>): string[] {
    const found: string[] = [];
    for (const key of schema.required) if (!(key in message)) found.push(`missing ${key}`);
    for (const [key, value] of Object.entries(message)) {
      const property = schema.properties[key];
      if (property === undefined) {
        found.push(`undocumented ${key}`);
        continue;
      }
      if (!/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/.test(key)) found.push(`not snake_case: ${key}`);
      if (property.enum !== undefined && !property.enum.includes(value as string)) found.push(`${key}: ${String(value)} not in enum`);
      const type = property.type;
      if (type === 'integer' ? !Number.isInteger(value) : type === 'number' ? typeof value !== 'number' : type !== undefined && typeof value !== type) found.push(`${key}: not ${type}`);
    }
    return found;
  }

  it('describes every message the publisher builds: answered, labelled, shed and error frames', () => {
    expect(schema.additionalProperties).toBe(false);
    const messages = [
      resultMessage(result('ok-1', { label: 1 }), ['crazing', 'inclusion']),
      resultMessage(result('shed-1', { outcome: 'shed', reason: 'no-slack', exit: undefined, classIndex: undefined, className: undefined, confidence: undefined, captureTsSource: 'receive' })),
      resultMessage(result('err-1', { outcome: 'error', reason: 'bad-json', exit: undefined, classIndex: undefined, className: undefined, confidence: undefined })),
    ];
    for (const message of messages) expect(problems(message as unknown as Record<string, unknown>), JSON.stringify(message)).toEqual([]);
    // The documented optional keys all occur in some message: the schema does not list keys the code never sends.
    const sent = new Set(messages.flatMap((message) => Object.keys(message)));
    expect(Object.keys(schema.properties).filter((key) => !sent.has(key))).toEqual([]);
  });
});

describe('results client options from a flow', () => {
  const flow = (extra: string) =>
    parseFlowText(
      `name: line1\nsource:\n  kind: mqtt\n  url: mqtt://broker:1883\n  topic: in/#\n  clientId: cam-1\n  username: u\n  password: \${PW}\ndecode: image\nmodel: { path: m }\nsinks:\n  mqttResults:\n    topic: out/results\n${extra}`,
      'f.yaml',
      { PW: 'pw', RPW: 'rpw' },
    ).flow!.config;

  it("reuses the source's broker and credentials under its own client id", () => {
    expect(resultsClientOptions(flow(''))).toMatchObject({ url: 'mqtt://broker:1883', clientId: 'cam-1-results', username: 'u', password: 'pw', protocolVersion: 5 });
  });

  it('does not send the source credentials to another broker', () => {
    const options = resultsClientOptions(flow('    url: mqtt://elsewhere:1883\n'));
    expect(options).toMatchObject({ url: 'mqtt://elsewhere:1883' });
    expect(options.password).toBeUndefined();
  });

  it('uses its own credentials and TLS on its own broker', () => {
    const options = resultsClientOptions(flow('    url: mqtts://results:8883\n    username: r\n    password: ${RPW}\n    tls: { ca: /etc/ca.pem }\n'));
    expect(options).toMatchObject({ url: 'mqtts://results:8883', username: 'r', password: 'rpw', tls: { ca: '/etc/ca.pem', rejectUnauthorized: true } });
  });

  it('refuses tls with a plain mqtt:// url (it would connect unencrypted), and a password written in the file', () => {
    const parse = (extra: string) =>
      parseFlowText(
        `name: line1\nsource:\n  kind: mqtt\n  url: mqtt://broker:1883\n  topic: in/#\ndecode: image\nmodel: { path: m }\nsinks:\n  mqttResults:\n    topic: out/results\n${extra}`,
        'f.yaml',
        { RPW: 'rpw' },
      ).issues.map((issue) => `${issue.path}: ${issue.message}`);
    expect(parse('    url: mqtt://results:1883\n    tls: { ca: /etc/ca.pem }\n')).toEqual([expect.stringMatching(/^sinks\.mqttResults\.tls: tls needs an mqtts:\/\/ or wss:\/\/ url/)]);
    expect(parse('    tls: { ca: /etc/ca.pem }\n')).toEqual([expect.stringMatching(/^sinks\.mqttResults\.tls: tls needs an mqtts:\/\/ or wss:\/\/ url/)]);
    expect(parse('    url: mqtts://results:8883\n    username: r\n    password: literal-secret\n').join('\n')).toContain('sinks.mqttResults.password: write secrets as ${ENV_VAR} references');
    expect(parse('    url: mqtts://results:8883\n    username: r\n    password: ${RPW}\n    tls: { ca: /etc/ca.pem }\n')).toEqual([]);
  });

  it('counts every result it could not publish in the sink drop metric, by reason', async () => {
    const { createMqttResultSink } = await import('../../src/sinks/mqtt-result-sink.ts');
    const { EdgekeMetrics } = await import('../../src/telemetry/metrics.ts');
    const metrics = new EdgekeMetrics({ defaultMetrics: false });
    const client = new FakeResultsClient();
    client.connected = false;
    const sink = createMqttResultSink(flow(''), [], silentLogger, { metrics, clientFactory: () => client });
    await sink.write(result('a'));
    await sink.write(result('b'));
    await sink.flush(1_000);
    await sink.close(100);
    const text = await metrics.registry.metrics();
    metrics.close();
    expect(text).toContain('edgeke_sink_dropped_points_total{sink="mqtt-results:line1",reason="publish-failed"} 2');
  });

  it('builds a publisher through the client factory', async () => {
    const made: ResultsMqttOptions[] = [];
    const client = new FakeResultsClient();
    const publisher = createMqttResultsPublisher(flow(''), { logger: silentLogger, clientFactory: (options) => (made.push(options), client) });
    await publisher.publish(result('x'));
    expect(made).toHaveLength(1);
    expect(client.sent[0]?.topic).toBe('out/results');
  });
});

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
      captureTs: 1_764_000_000_000,
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

describe('results client options from a flow', () => {
  const flow = (extra: string) =>
    parseFlowText(
      `name: line1\nsource:\n  kind: mqtt\n  url: mqtt://broker:1883\n  topic: in/#\n  clientId: cam-1\n  username: u\n  password: \${PW}\ndecode: image\nmodel: { path: m }\nsinks:\n  mqttResults:\n    topic: out/results\n${extra}`,
      'f.yaml',
      { PW: 'pw' },
    ).flow!.config;

  it("reuses the source's broker and credentials under its own client id", () => {
    expect(resultsClientOptions(flow(''))).toMatchObject({ url: 'mqtt://broker:1883', clientId: 'cam-1-results', username: 'u', password: 'pw', protocolVersion: 5 });
  });

  it('does not send the source credentials to another broker', () => {
    const options = resultsClientOptions(flow('    url: mqtt://elsewhere:1883\n'));
    expect(options).toMatchObject({ url: 'mqtt://elsewhere:1883' });
    expect(options.password).toBeUndefined();
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

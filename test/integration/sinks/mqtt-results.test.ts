import mqtt from 'mqtt';
import pino from 'pino';
import { describe, expect, inject, it } from 'vitest';
import { createResultsMqttClient } from '../../../src/sinks/mqtt-results-client.ts';
import { MqttResultsPublisher, type ResultMessage } from '../../../src/sinks/mqtt-results.ts';

describe('MQTT results publisher against a real Mosquitto', () => {
  it('publishes each result as JSON with QoS 1', async () => {
    const url = inject('mosquittoUrl');
    const subscriber = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: 'results-sub' });
    const received: { message: ResultMessage; qos: number }[] = [];
    subscriber.on('message', (_topic, payload, packet) => received.push({ message: JSON.parse(payload.toString()) as ResultMessage, qos: packet.qos }));
    await subscriber.subscribeAsync('edgeke-test/results', { qos: 1 });
    const publisher = new MqttResultsPublisher({
      flow: 'line1',
      topic: 'edgeke-test/results',
      qos: 1,
      client: createResultsMqttClient({ url, clientId: 'edgeke-line1-results', protocolVersion: 5, keepaliveSeconds: 30 }),
      logger: pino({ level: 'silent' }),
      classes: ['normal', 'inner', 'outer'],
    });
    try {
      for (let index = 0; index < 20; index += 1) {
        await publisher.publish({
          flow: 'line1', id: `frame-${index}`, captureTs: 1_764_000_000_000 + index, captureTsSource: 'device', model: 'cwru-bearing', engine: 'onnx',
          outcome: 'ok', exit: 1, classIndex: 2, className: 'outer', confidence: 0.97, label: 2, queueMs: 1, inferMs: 2, e2eMs: 3, deadlineMs: 100, deadlineMet: true, configVersion: 1,
        });
      }
      expect(publisher.published).toBe(20);
      const deadline = Date.now() + 5_000;
      while (received.length < 20 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(received.map((entry) => entry.message.id)).toEqual(Array.from({ length: 20 }, (_, index) => `frame-${index}`));
      expect(received[0]).toMatchObject({ qos: 1, message: { flow: 'line1', class: 'outer', label_name: 'outer', e2e_ms: 3, outcome: 'ok' } });
    } finally {
      await publisher.close();
      await subscriber.endAsync();
    }
  });
});

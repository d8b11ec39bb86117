import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { describe, expect, inject, it } from 'vitest';
import type { RawMessage } from '../../../src/core/frame.ts';
import { startCameraSimulator } from '../../../src/simulators/camera-simulator.ts';
import { startVibrationMqttSimulator } from '../../../src/simulators/vibration-mqtt-simulator.ts';
import { mqttSource } from '../../../src/sources/mqtt-source.ts';
import type { SourceStateChange } from '../../../src/sources/source-events.ts';

// The simulators' MQTT 5 form (binary payload + user properties) through Mosquitto into the MQTT source.
const logger = pino({ level: 'silent' });

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(20);
  }
}

function listen(topic: string) {
  const messages: RawMessage[] = [];
  const states: SourceStateChange[] = [];
  const subscription = mqttSource(
    { flow: 'sim', url: inject('mosquittoUrl'), topic, qos: 1, clientId: `sim-${topic.replace(/\W/g, '-')}-${process.pid}`, cleanSession: true },
    { logger, events: { onStateChange: (change) => states.push(change) } },
  ).subscribe((message) => {
    messages.push(message);
    message.ack();
  });
  return { messages, states, subscription };
}

describe('simulators over MQTT 5 into the MQTT source', () => {
  it('camera frames arrive as JPEG bytes with id and capture time from user properties', async () => {
    const topic = `e2e/camera/${process.pid}`;
    const run = listen(topic);
    try {
      await until(() => run.states.some((change) => change.state === 'connected'));
      await sleep(200);
      const simulator = await startCameraSimulator({
        url: inject('mosquittoUrl'),
        topic,
        imagesFolder: 'data/neu-surface/test',
        classes: ['crazing', 'inclusion', 'patches', 'pitted_surface', 'rolled-in_scale', 'scratches'],
        ratePerSecond: 100,
        format: 'binary',
        limit: 5,
      });
      await simulator.finished;
      await simulator.stop();
      await until(() => run.messages.length === 5);
      expect(run.messages.map((message) => message.id)).toEqual(['cam-0', 'cam-1', 'cam-2', 'cam-3', 'cam-4']);
      const first = run.messages[0];
      expect(first?.payload.kind === 'bytes' && first.payload.bytes.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
      expect(Math.abs((first?.captureTs ?? 0) - Date.now())).toBeLessThan(10_000);
    } finally {
      run.subscription.unsubscribe();
    }
  });

  it('vibration windows arrive as little-endian float32', async () => {
    const topic = `e2e/vibration/${process.pid}`;
    const run = listen(topic);
    try {
      await until(() => run.states.some((change) => change.state === 'connected'));
      await sleep(200);
      const recording = { file: 'r', className: 'ball_7', label: 4, samples: Float32Array.from({ length: 4096 }, (_, i) => i / 10) };
      const simulator = await startVibrationMqttSimulator({
        url: inject('mosquittoUrl'),
        topic,
        recordings: [recording],
        windowLength: 2048,
        ratePerSecond: 50,
        limit: 2,
      });
      await simulator.finished;
      await simulator.stop();
      await until(() => run.messages.length === 2);
      const bytes = run.messages[1]?.payload.kind === 'bytes' ? run.messages[1].payload.bytes : Buffer.alloc(0);
      expect(bytes.length).toBe(2048 * 4);
      expect(bytes.readFloatLE(0)).toBeCloseTo(204.8, 3);
      expect(run.messages[1]?.id).toBe('vib-1');
    } finally {
      run.subscription.unsubscribe();
    }
  });
});

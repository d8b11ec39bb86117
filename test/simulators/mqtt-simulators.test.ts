import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/broker/embedded-broker.ts';
import { ConfigError } from '../../src/errors.ts';
import { cameraFrame, startCameraSimulator, type CameraEnvelope } from '../../src/simulators/camera-simulator.ts';
import { loadCwruTestSplit, interleaveByClass } from '../../src/simulators/cwru-recordings.ts';
import { loadLabelledImages } from '../../src/simulators/neu-images.ts';
import { startVibrationMqttSimulator, vibrationFrame, type VibrationEnvelope } from '../../src/simulators/vibration-mqtt-simulator.ts';

// The simulators against the embedded aedes broker (MQTT 3.1.1, in-process: no external service).
const NEU_CLASSES = ['scratches', 'rolled-in_scale', 'pitted_surface', 'patches', 'inclusion', 'crazing']; // any order: the manifest's
let broker: EmbeddedBroker;
beforeAll(async () => {
  broker = await startEmbeddedBroker();
});
afterAll(async () => {
  await broker.stop();
});

/** Subscribes before the simulator starts; `waitFor` resolves with what arrived once `count` messages did. */
async function collector<T>(topic: string) {
  const client = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  const received: T[] = [];
  client.on('message', (_topic, payload) => received.push(JSON.parse(payload.toString()) as T));
  await client.subscribeAsync(topic, { qos: 1 });
  return {
    waitFor: async (count: number, timeoutMs = 10_000): Promise<T[]> => {
      const deadline = Date.now() + timeoutMs;
      while (received.length < count && Date.now() < deadline) await sleep(20);
      await client.endAsync();
      return received;
    },
  };
}

describe('embedded broker', () => {
  it('listens on a free loopback port and stops', async () => {
    const other = await startEmbeddedBroker({ port: 0 });
    expect(other.url).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
    const client = await mqtt.connectAsync(other.url, { protocolVersion: 4, reconnectPeriod: 0 });
    await other.stop();
    await other.stop(); // idempotent
    await client.endAsync(true);
  });
});

describe('camera simulator', () => {
  it('labels NEU images by the index of their class in the given class list', async () => {
    const images = await loadLabelledImages('data/neu-surface/test', NEU_CLASSES);
    expect(images.length).toBe(359);
    for (const image of images.slice(0, 12)) expect(image.file.startsWith(`${NEU_CLASSES[image.label]}/`)).toBe(true);
    expect(images.slice(0, 6).map((image) => image.label)).toEqual([0, 1, 2, 3, 4, 5]);
    await expect(loadLabelledImages('data/neu-surface/test', ['no_such_class'])).rejects.toThrow(ConfigError);
  });

  it('builds binary frames with MQTT 5 user properties', () => {
    const frame = cameraFrame([{ file: 'a.jpg', label: 3, bytes: Buffer.from([0xff, 0xd8]) }], 7, 1234, 'binary');
    expect(frame).toEqual({ payload: Buffer.from([0xff, 0xd8]), userProperties: { id: 'cam-7', ts: '1234', label: '3' } });
  });

  it('publishes JSON envelopes over MQTT 3.1.1 at the configured rate', async () => {
    const topic = 'sim/camera';
    const pending = await collector<CameraEnvelope>(topic);
    const simulator = await startCameraSimulator({
      url: broker.url,
      topic,
      imagesFolder: 'data/neu-surface/test',
      classes: NEU_CLASSES,
      ratePerSecond: 50,
      protocolVersion: 4,
      limit: 10,
    });
    const started = Date.now();
    await simulator.finished;
    const elapsed = Date.now() - started;
    await simulator.stop();
    const envelopes = await pending.waitFor(10);
    expect(simulator.stats()).toMatchObject({ published: 10, failed: 0 });
    expect(elapsed).toBeGreaterThanOrEqual(150); // 10 frames at 50/s ≈ 200 ms
    expect(envelopes.map((envelope) => envelope.id)).toEqual(Array.from({ length: 10 }, (_, i) => `cam-${i}`));
    expect(envelopes.slice(0, 6).map((envelope) => envelope.label)).toEqual([0, 1, 2, 3, 4, 5]);
    const jpeg = Buffer.from(envelopes[0]?.image ?? '', 'base64');
    expect(jpeg.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    expect(Math.abs((envelopes[0]?.ts ?? 0) - started)).toBeLessThan(5_000);
  });

  it('starts before the broker is up, skipping frames until it can publish', async () => {
    const late = await startEmbeddedBroker();
    const { port } = late;
    await late.stop(); // nothing listens on the port for now
    const simulator = await startCameraSimulator({
      url: `mqtt://127.0.0.1:${port}`,
      topic: 'sim/late',
      images: [{ file: 'a.jpg', label: 0, bytes: Buffer.from([0xff, 0xd8]) }],
      classes: ['a'],
      ratePerSecond: 100,
      protocolVersion: 4,
      limit: 3,
    });
    await sleep(300);
    expect(simulator.stats().published).toBe(0);
    expect(simulator.stats().skipped).toBeGreaterThan(0);
    const broker2 = await startEmbeddedBroker({ port });
    try {
      await simulator.finished;
      expect(simulator.stats().published).toBe(3);
    } finally {
      await simulator.stop();
      await broker2.stop();
    }
  });

  it('refuses binary frames over MQTT 3.1.1', async () => {
    await expect(
      startCameraSimulator({ url: broker.url, topic: 't', images: [{ file: 'a', label: 0, bytes: Buffer.alloc(1) }], classes: ['a'], ratePerSecond: 1, protocolVersion: 4, format: 'binary' }),
    ).rejects.toThrow(RangeError);
  });
});

describe('vibration MQTT simulator', () => {
  it('encodes windows as JSON or little-endian float32', () => {
    const values = Float32Array.from([1.5, -2]);
    expect(JSON.parse(vibrationFrame(values, 4, 'vib-1', 99, 'json').payload.toString())).toEqual({ id: 'vib-1', ts: 99, values: [1.5, -2], label: 4 });
    const binary = vibrationFrame(values, 4, 'vib-1', 99, 'binary');
    expect((binary.payload as Buffer).readFloatLE(4)).toBe(-2);
    expect(binary.userProperties).toEqual({ id: 'vib-1', ts: '99', label: '4' });
  });

  it('publishes CWRU windows of the model length cycling through classes', async () => {
    const split = await loadCwruTestSplit('data/cwru-bearing/test');
    const recordings = interleaveByClass(split.recordings);
    const topic = 'sim/vibration';
    const pending = await collector<VibrationEnvelope>(topic);
    const simulator = await startVibrationMqttSimulator({
      url: broker.url,
      topic,
      recordings,
      windowLength: 2048,
      holdSamples: 4096, // two windows per class
      ratePerSecond: 40,
      protocolVersion: 4,
      limit: 4,
    });
    await simulator.finished;
    await simulator.stop();
    const envelopes = await pending.waitFor(4);
    expect(envelopes).toHaveLength(4);
    expect(envelopes.map((envelope) => envelope.values.length)).toEqual([2048, 2048, 2048, 2048]);
    expect(envelopes.map((envelope) => envelope.label)).toEqual([recordings[0]?.label, recordings[0]?.label, recordings[1]?.label, recordings[1]?.label]);
    expect(envelopes[0]?.values[0]).toBeCloseTo(recordings[0]?.samples[0] ?? Number.NaN, 5);
  });
});

import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { RawMessage } from '../../src/core/frame.ts';
import { ConfigError } from '../../src/errors.ts';
import { mqttSource, parseCaptureTs, withoutCredentials, type MqttSourceOptions } from '../../src/sources/mqtt-source.ts';
import { sourceRefused } from '../../src/sources/source-errors.ts';
import type { SourceRejection, SourceStateChange } from '../../src/sources/source-events.ts';
import { FakeMqttTransport } from './fake-mqtt-transport.ts';

const logger = pino({ level: 'silent' });
const baseOptions: MqttSourceOptions = { flow: 'cams', url: 'mqtt://broker', topic: 'plant/+/camera', qos: 1, clientId: 'edgeke-cams' };

function start(options: Partial<MqttSourceOptions> = {}) {
  const fake = new FakeMqttTransport();
  const messages: RawMessage[] = [];
  const states: SourceStateChange[] = [];
  const rejections: SourceRejection[] = [];
  const subscription = mqttSource(
    { ...baseOptions, ...options },
    {
      logger,
      connect: fake.factory,
      now: () => 1_000,
      events: { onStateChange: (change) => states.push(change), onRejected: (rejection) => rejections.push(rejection) },
    },
  ).subscribe((message) => messages.push(message));
  return { fake, messages, states, rejections, subscription };
}

describe('mqttSource', () => {
  it('connects with a persistent session and subscribes on every CONNACK', () => {
    const { fake, subscription } = start();
    expect(fake.options).toMatchObject({ clientId: 'edgeke-cams', clean: false, protocolVersion: 5, sessionExpirySeconds: 86_400 });
    fake.brokerConnects(false);
    fake.connectionLost();
    fake.brokerConnects(true);
    expect(fake.subscriptions).toEqual([
      { filter: 'plant/+/camera', qos: 1 },
      { filter: 'plant/+/camera', qos: 1 },
    ]);
    subscription.unsubscribe();
    expect(fake.ended).toBe(true);
  });

  it('subscribes to $share/<group>/<filter> for a shared group', () => {
    const { fake } = start({ sharedGroup: 'edge' });
    fake.brokerConnects(false);
    expect(fake.subscriptions[0]?.filter).toBe('$share/edge/plant/+/camera');
  });

  it('rejects config that cannot work before connecting', () => {
    expect(() => mqttSource({ ...baseOptions, sharedGroup: 'g', protocolVersion: 4 }, { logger })).toThrow(ConfigError);
    expect(() => mqttSource({ ...baseOptions, clientId: ' ' }, { logger })).toThrow(ConfigError);
    expect(() => mqttSource({ ...baseOptions, tls: { ca: '/nonexistent/ca.pem' } }, { logger })).toThrow(ConfigError);
  });

  it('takes id and capture time from MQTT 5 user properties', () => {
    const { fake, messages } = start();
    fake.brokerConnects(false);
    fake.brokerSends({ messageId: 1, userProperties: { id: 'frame-7', ts: '1700000000123' } });
    fake.brokerSends({ messageId: 2, userProperties: { ts: '2026-01-01T00:00:00.000Z' } });
    fake.brokerSends({ messageId: 3 });
    expect(messages.map(({ id, captureTs, receivedTs }) => ({ id, captureTs, receivedTs }))).toEqual([
      { id: 'frame-7', captureTs: 1700000000123, receivedTs: 1_000 },
      { id: undefined, captureTs: Date.parse('2026-01-01T00:00:00.000Z'), receivedTs: 1_000 },
      { id: undefined, captureTs: undefined, receivedTs: 1_000 },
    ]);
    expect(messages[0]?.payload).toEqual({ kind: 'bytes', bytes: Buffer.from('x') });
    expect(messages[0]?.origin).toBe('plant/camera');
  });

  it('sends the PUBACK only when the pipeline acks, once', () => {
    const { fake, messages } = start();
    fake.brokerConnects(false);
    fake.brokerSends({ messageId: 5 });
    expect(fake.pubacks).toEqual([]);
    messages[0]?.ack();
    messages[0]?.ack();
    expect(fake.pubacks).toEqual([5]);
  });

  it('does not ack QoS 0 messages', () => {
    const { fake, messages } = start({ qos: 0 });
    fake.brokerConnects(false);
    fake.brokerSends({ qos: 0 });
    messages[0]?.ack();
    expect(fake.pubacks).toEqual([]);
  });

  it('answers a redelivery of a message the pipeline still holds with the pipeline ack, not a second emit', () => {
    const { fake, messages } = start();
    fake.brokerConnects(false);
    fake.brokerSends({ messageId: 9 });
    fake.connectionLost();
    fake.brokerConnects(true);
    fake.brokerSends({ messageId: 9, dup: true });
    expect(messages).toHaveLength(1);
    messages[0]?.ack();
    expect(fake.pubacks).toEqual([9]);
  });

  it('recognises a redelivery handled between the CONNACK and the client saying it is connected', () => {
    // mqtt.js emits 'connect' a few ticks after it read the CONNACK; the broker resends held messages right behind it.
    const { fake, messages } = start();
    fake.brokerConnects(false);
    fake.brokerSends({ messageId: 9 });
    fake.connectionLost();
    fake.brokerConnacks(true);
    fake.brokerSends({ messageId: 9, dup: true });
    fake.clientSaysConnected(true);
    expect(messages).toHaveLength(1);
    messages[0]?.ack();
    expect(fake.pubacks).toEqual([9]);
  });

  it('acks a redelivery at once when the pipeline acked while offline', () => {
    const { fake, messages } = start();
    fake.brokerConnects(false);
    fake.brokerSends({ messageId: 4 });
    fake.connectionLost();
    messages[0]?.ack();
    expect(fake.pubacks).toEqual([]);
    fake.brokerConnects(true);
    fake.brokerSends({ messageId: 4, dup: true });
    expect(fake.pubacks).toEqual([4]);
    expect(messages).toHaveLength(1);
  });

  it('emits a new message that reuses the id of a held one (no DUP, other payload)', () => {
    const { fake, messages } = start();
    fake.brokerConnects(false);
    fake.brokerSends({ messageId: 6, payload: Buffer.from('old') });
    fake.connectionLost();
    fake.brokerConnects(true); // the broker kept the session but not this in-flight message
    fake.brokerSends({ messageId: 6, payload: Buffer.from('new') });
    fake.brokerSends({ messageId: 7, payload: Buffer.from('x'), dup: true }); // DUP alone is not enough either
    expect(messages.map((message) => message.payload.kind === 'bytes' && message.payload.bytes.toString())).toEqual(['old', 'new', 'x']);
    messages[0]?.ack(); // stale: must not PUBACK id 6, which now belongs to 'new'
    expect(fake.pubacks).toEqual([]);
    messages[1]?.ack();
    expect(fake.pubacks).toEqual([6]);
  });

  it('forgets in-flight messages when the broker lost the session', () => {
    const { fake, messages } = start();
    fake.brokerConnects(false);
    fake.brokerSends({ messageId: 4 });
    fake.connectionLost();
    fake.brokerConnects(false);
    messages[0]?.ack();
    fake.brokerSends({ messageId: 4 }); // a new message reusing the id
    expect(messages).toHaveLength(2);
    expect(fake.pubacks).toEqual([]);
    messages[1]?.ack();
    expect(fake.pubacks).toEqual([4]);
  });

  it('acks, counts and drops payloads over maxPacketBytes', () => {
    const { fake, messages, rejections } = start({ maxPacketBytes: 10, protocolVersion: 4 });
    fake.brokerConnects(false);
    fake.brokerSends({ messageId: 1, payload: Buffer.alloc(11) });
    fake.brokerSends({ messageId: 2, payload: Buffer.alloc(10) });
    expect(messages).toHaveLength(1);
    expect(fake.pubacks).toEqual([1]);
    expect(rejections).toEqual([{ reason: 'oversize', origin: 'plant/camera', count: 1, bytes: 11 }]);
    expect(fake.options.protocolVersion).toBe(4);
  });

  it('ends with a non-retryable error when the broker refuses the credentials', () => {
    const fake = new FakeMqttTransport();
    const errors: unknown[] = [];
    mqttSource(baseOptions, { logger, connect: fake.factory }).subscribe({ error: (error: unknown) => errors.push(error) });
    fake.brokerRefuses(134, false);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'EDGEKE_SOURCE_REFUSED', retryable: false });
    expect(fake.ended).toBe(true);
  });

  it('ends with the refusal when the broker refuses the subscription, and keeps going on other subscribe errors', async () => {
    const refusing = new FakeMqttTransport();
    refusing.subscribeError = sourceRefused('broker refused the subscription to plant/+/camera (reason code 135)');
    const errors: unknown[] = [];
    mqttSource(baseOptions, { logger, connect: refusing.factory }).subscribe({ error: (error: unknown) => errors.push(error) });
    refusing.brokerConnects(false);
    await Promise.resolve();
    await Promise.resolve();
    expect(errors).toEqual([refusing.subscribeError]);

    const dropping = new FakeMqttTransport();
    dropping.subscribeError = new Error('connection closed');
    const errors2: unknown[] = [];
    mqttSource(baseOptions, { logger, connect: dropping.factory }).subscribe({ error: (error: unknown) => errors2.push(error) });
    dropping.brokerConnects(false);
    await Promise.resolve();
    await Promise.resolve();
    expect(errors2).toEqual([]);
  });

  it('never puts broker credentials in its messages', () => {
    expect(withoutCredentials('mqtt://edgeke:s3cret@broker:1883')).toBe('mqtt://broker:1883');
  });

  it('keeps going when the broker is only busy', async () => {
    const { fake, states } = start();
    fake.brokerRefuses(137, true);
    fake.brokerConnects(false);
    await new Promise((resolve) => setImmediate(resolve)); // the SUBACK
    expect(states.map((change) => change.state)).toEqual(['connecting', 'reconnecting', 'connected']);
  });

  it('reports connection state: connected once subscribed (at once when the broker kept the session)', async () => {
    const { fake, states, subscription } = start();
    fake.brokerConnects(false);
    expect(states.map((change) => change.state)).toEqual(['connecting']);
    await new Promise((resolve) => setImmediate(resolve)); // the SUBACK
    fake.connectionLost();
    fake.brokerConnects(true);
    subscription.unsubscribe();
    expect(states.map((change) => change.state)).toEqual(['connecting', 'connected', 'reconnecting', 'connected', 'closed']);
  });
});

describe('parseCaptureTs', () => {
  it('reads epoch milliseconds and ISO dates, and ignores junk', () => {
    expect(parseCaptureTs('123')).toBe(123);
    expect(parseCaptureTs('1970-01-01T00:00:01Z')).toBe(1000);
    expect(parseCaptureTs('soon')).toBeUndefined();
    expect(parseCaptureTs('')).toBeUndefined();
    expect(parseCaptureTs(undefined)).toBeUndefined();
  });
});

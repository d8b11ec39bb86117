import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import pino from 'pino';
import type { Observable, Subscription } from 'rxjs';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import type { RawMessage } from '../../../src/core/frame.ts';
import { startEmbeddedBroker } from '../../../src/broker/embedded-broker.ts';
import { mqttSource, type MqttSourceOptions } from '../../../src/sources/mqtt-source.ts';
import type { SourceStateChange } from '../../../src/sources/source-events.ts';
import { startMosquitto } from '../../helpers/mosquitto.ts';

const logger = pino({ level: 'silent' });
let serial = 0;
const unique = (name: string): string => `${name}-${process.pid}-${++serial}`;

/** Subscribes and records messages and states; `until` polls for a condition. */
function run(source: Observable<RawMessage>, states: SourceStateChange[] = []) {
  const messages: RawMessage[] = [];
  const subscription: Subscription = source.subscribe((message) => messages.push(message));
  return { messages, states, subscription };
}

async function until(condition: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function sourceOn(url: string, options: Partial<MqttSourceOptions> & { clientId: string; topic: string }, states?: SourceStateChange[]) {
  return mqttSource(
    { flow: 'test', url, qos: 1, reconnectPeriodMs: 200, ...options },
    { logger, events: { onStateChange: (change) => states?.push(change) } },
  );
}

const texts = (messages: RawMessage[]): string[] =>
  messages.map((message) => (message.payload.kind === 'bytes' ? message.payload.bytes.toString() : ''));

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('mqttSource against Mosquitto 2 (MQTT 5)', () => {
  const url = inject('mosquittoUrl');
  async function publisher() {
    const client = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: unique('pub') });
    cleanups.push(() => client.endAsync());
    return client;
  }

  it('delivers QoS 1 messages published while the service was down (persistent session)', async () => {
    const topic = unique('restart');
    const clientId = unique('edgeke');
    const states: SourceStateChange[] = [];
    const first = run(sourceOn(url, { clientId, topic }, states));
    await until(() => states.some((change) => change.state === 'connected'), 10_000, 'connect');
    await sleep(200); // SUBACK
    first.subscription.unsubscribe();
    await sleep(200);

    const pub = await publisher();
    await pub.publishAsync(topic, 'while-down-1', { qos: 1 });
    await pub.publishAsync(topic, 'while-down-2', { qos: 1 });

    const second = run(sourceOn(url, { clientId, topic }));
    cleanups.push(() => second.subscription.unsubscribe());
    await until(() => second.messages.length === 2, 10_000, 'queued messages');
    expect(texts(second.messages)).toEqual(['while-down-1', 'while-down-2']);
    for (const message of second.messages) message.ack();
  });

  it('redelivers a message the pipeline did not ack after the client restarts, and not once acked', async () => {
    const topic = unique('unacked');
    const clientId = unique('edgeke');
    const states: SourceStateChange[] = [];
    const first = run(sourceOn(url, { clientId, topic }, states));
    await until(() => states.some((change) => change.state === 'connected'));
    await sleep(200);
    const pub = await publisher();
    await pub.publishAsync(topic, 'hold-me', { qos: 1 });
    await pub.publishAsync(topic, 'ack-me', { qos: 1 });
    await until(() => first.messages.length === 2);
    first.messages[1]?.ack(); // only the second one
    await sleep(200);
    first.subscription.unsubscribe();
    await sleep(300);

    const second = run(sourceOn(url, { clientId, topic }));
    await until(() => second.messages.length === 1, 10_000, 'redelivery');
    expect(texts(second.messages)).toEqual(['hold-me']);
    second.messages[0]?.ack();
    await sleep(300);
    second.subscription.unsubscribe();
    await sleep(300);

    const third = run(sourceOn(url, { clientId, topic }));
    cleanups.push(() => third.subscription.unsubscribe());
    await sleep(1_000);
    expect(third.messages).toEqual([]);
  });

  it('splits a shared subscription between two clients', async () => {
    const topic = unique('shared');
    const statesA: SourceStateChange[] = [];
    const statesB: SourceStateChange[] = [];
    const a = run(sourceOn(url, { clientId: unique('a'), topic, sharedGroup: 'edge', cleanSession: true }, statesA));
    const b = run(sourceOn(url, { clientId: unique('b'), topic, sharedGroup: 'edge', cleanSession: true }, statesB));
    cleanups.push(() => a.subscription.unsubscribe(), () => b.subscription.unsubscribe());
    await until(() => [statesA, statesB].every((states) => states.some((change) => change.state === 'connected')));
    await sleep(300);
    const pub = await publisher();
    for (let i = 0; i < 20; i += 1) await pub.publishAsync(topic, `m${i}`, { qos: 1 });
    await until(() => a.messages.length + b.messages.length === 20, 10_000, 'all shared messages');
    expect(a.messages.length).toBeGreaterThan(0);
    expect(b.messages.length).toBeGreaterThan(0);
    expect([...texts(a.messages), ...texts(b.messages)].sort()).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`).sort());
    for (const message of [...a.messages, ...b.messages]) message.ack();
  });

  it('advertises maxPacketBytes so the broker drops larger messages, and goes on with the next', async () => {
    const topic = unique('oversize');
    const states: SourceStateChange[] = [];
    const source = run(sourceOn(url, { clientId: unique('edgeke'), topic, cleanSession: true, maxPacketBytes: 1_024 }, states));
    cleanups.push(() => source.subscription.unsubscribe());
    await until(() => states.some((change) => change.state === 'connected'));
    await sleep(200);
    const pub = await publisher();
    await pub.publishAsync(topic, Buffer.alloc(4_096), { qos: 1 });
    await pub.publishAsync(topic, 'small', { qos: 1 });
    await until(() => source.messages.length === 1);
    await sleep(300);
    expect(texts(source.messages)).toEqual(['small']);
    expect(states.filter((change) => change.state === 'reconnecting')).toEqual([]);
    source.messages[0]?.ack();
  });

  it('reads frame id and capture time from user properties', async () => {
    const topic = unique('props');
    const states: SourceStateChange[] = [];
    const source = run(sourceOn(url, { clientId: unique('edgeke'), topic, cleanSession: true }, states));
    cleanups.push(() => source.subscription.unsubscribe());
    await until(() => states.some((change) => change.state === 'connected'));
    await sleep(200);
    const pub = await publisher();
    await pub.publishAsync(topic, Buffer.from([1, 2, 3]), {
      qos: 1,
      properties: { userProperties: { id: 'frame-42', ts: '1764300000000' } },
    });
    await until(() => source.messages.length === 1);
    expect(source.messages[0]).toMatchObject({ id: 'frame-42', captureTs: 1764300000000, origin: topic });
    expect(source.messages[0]?.payload).toEqual({ kind: 'bytes', bytes: Buffer.from([1, 2, 3]) });
    source.messages[0]?.ack();
  });
});

describe('mqttSource with a broker that freezes (half-open connection)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgeke-mqtt-halfopen-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('detects a SIGSTOPped broker within 1.5x keepalive, reconnects after SIGCONT, and acks a held message once', async () => {
    const broker = await startMosquitto({ dir });
    cleanups.push(() => broker.process.stop());
    const keepaliveSeconds = 2;
    const states: Array<SourceStateChange & { at: number }> = [];
    const topic = unique('halfopen');
    const clientId = unique('edgeke');
    const options = { flow: 'test', url: broker.url, topic, qos: 1 as const, clientId, keepaliveSeconds, reconnectPeriodMs: 200, connectTimeoutMs: 1_000 };
    const received = run(mqttSource(options, { logger, events: { onStateChange: (change) => states.push({ ...change, at: Date.now() }) } }));
    await until(() => states.some((change) => change.state === 'connected'));
    await sleep(300);
    const pub = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: unique('pub'), reconnectPeriod: 200 });
    cleanups.push(() => pub.endAsync(true));
    await pub.publishAsync(topic, 'held', { qos: 1 });
    await until(() => received.messages.length === 1, 10_000, 'held message');

    broker.process.pause();
    const pausedAt = Date.now();
    await until(() => states.some((change) => change.state === 'reconnecting'), 10_000, 'half-open detection');
    const detectedAfterMs = (states.find((change) => change.state === 'reconnecting')?.at ?? 0) - pausedAt;
    // Pings go out on the keepalive and the connection is dropped 1.5x keepalive after the last traffic.
    expect(detectedAfterMs).toBeLessThanOrEqual(keepaliveSeconds * 1_500 + 500);

    broker.process.resume();
    await until(() => states.filter((change) => change.state === 'connected').length >= 2, 15_000, 'reconnect');
    // The broker redelivers the unacked message on the new connection; the pipeline still holds it: no second copy.
    await sleep(1_000);
    expect(texts(received.messages)).toEqual(['held']);
    received.messages[0]?.ack(); // goes out on the new connection, under the redelivered packet id

    await until(() => pub.connected, 10_000, 'publisher reconnect');
    await pub.publishAsync(topic, 'after-resume', { qos: 1 });
    await until(() => received.messages.length === 2, 10_000, 'message after resume');
    received.messages[1]?.ack();
    await sleep(300);
    received.subscription.unsubscribe();
    await sleep(300);

    const restarted = run(mqttSource(options, { logger }));
    cleanups.push(() => restarted.subscription.unsubscribe());
    await sleep(1_000);
    expect(restarted.messages).toEqual([]);
  });
});

describe('mqttSource across a broker restart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgeke-mqtt-restart-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps the subscription and a held message across a broker restart (Mosquitto persistence)', async () => {
    const broker = await startMosquitto({ dir });
    cleanups.push(() => broker.process.stop());
    const topic = unique('brokerrestart');
    const clientId = unique('edgeke');
    const states: SourceStateChange[] = [];
    const options = { flow: 'test', url: broker.url, topic, qos: 1 as const, clientId, reconnectPeriodMs: 200, connectTimeoutMs: 1_000 };
    const received = run(mqttSource(options, { logger, events: { onStateChange: (change) => states.push(change) } }));
    await until(() => states.some((change) => change.state === 'connected'));
    await sleep(300);
    const publish = async (text: string): Promise<void> => {
      const pub = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: unique('pub'), reconnectPeriod: 0 });
      await pub.publishAsync(topic, text, { qos: 1 });
      await pub.endAsync();
    };
    await publish('held');
    await until(() => received.messages.length === 1, 10_000, 'held message');

    await broker.process.restart();
    await until(() => states.filter((change) => change.state === 'connected').length >= 2, 15_000, 'reconnect');
    await publish('after-restart');
    await until(() => received.messages.length === 2, 10_000, 'message after broker restart');
    await sleep(500);
    expect(texts(received.messages)).toEqual(['held', 'after-restart']);
    for (const message of received.messages) message.ack();
    await sleep(300);
    received.subscription.unsubscribe();
    await sleep(300);

    const restarted = run(mqttSource(options, { logger }));
    cleanups.push(() => restarted.subscription.unsubscribe());
    await sleep(1_000);
    expect(restarted.messages).toEqual([]);
  });
});

describe('mqttSource against the embedded aedes broker (MQTT 3.1.1)', () => {
  it('defers the PUBACK to ack() and gets unacked messages redelivered after a client restart', async () => {
    const broker = await startEmbeddedBroker();
    cleanups.push(() => broker.stop());
    const topic = unique('aedes');
    const clientId = unique('edgeke');
    const options = { clientId, topic, protocolVersion: 4 as const, maxPacketBytes: 64 };
    const states: SourceStateChange[] = [];
    const rejected: string[] = [];
    const first = run(
      mqttSource(
        { flow: 'test', url: broker.url, qos: 1, reconnectPeriodMs: 200, ...options },
        { logger, events: { onStateChange: (change) => states.push(change), onRejected: (r) => rejected.push(r.reason) } },
      ),
    );
    await until(() => states.some((change) => change.state === 'connected'));
    await sleep(200);
    const pub = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clientId: unique('pub') });
    cleanups.push(() => pub.endAsync());
    await pub.publishAsync(topic, 'keep-me', { qos: 1 });
    await pub.publishAsync(topic, Buffer.alloc(100), { qos: 1 });
    await until(() => first.messages.length === 1 && rejected.length === 1);
    expect(rejected).toEqual(['oversize']);
    first.subscription.unsubscribe();
    await sleep(300);

    const second = run(sourceOn(broker.url, options));
    cleanups.push(() => second.subscription.unsubscribe());
    await until(() => second.messages.length === 1, 10_000, 'redelivery');
    expect(texts(second.messages)).toEqual(['keep-me']);
    second.messages[0]?.ack();
  });
});

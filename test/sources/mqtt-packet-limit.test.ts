import { describe, expect, it } from 'vitest';
import { OversizePacketFilter, type OversizePublish } from '../../src/sources/mqtt-packet-limit.ts';
import { seededRandom } from '../helpers/seeded-random.ts';

// The filter in front of mqtt.js: oversize PUBLISH packets are streamed away as they arrive (only topic and packet id
// kept), everything else comes out byte for byte, however the socket splits the stream.

function remainingLength(length: number): Buffer {
  const bytes: number[] = [];
  let left = length;
  do {
    let byte = left % 128;
    left = Math.floor(left / 128);
    if (left > 0) byte |= 0x80;
    bytes.push(byte);
  } while (left > 0);
  return Buffer.from(bytes);
}

function packet(firstByte: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([firstByte]), remainingLength(body.length), body]);
}

/** An MQTT 3.1.1 PUBLISH. */
function publish(topic: string, payload: Buffer, qos: 0 | 1, messageId = 1): Buffer {
  const topicBytes = Buffer.from(topic, 'utf8');
  const header = Buffer.alloc(2 + topicBytes.length + (qos > 0 ? 2 : 0));
  header.writeUInt16BE(topicBytes.length, 0);
  topicBytes.copy(header, 2);
  if (qos > 0) header.writeUInt16BE(messageId, 2 + topicBytes.length);
  return packet(0x30 | (qos << 1), Buffer.concat([header, payload]));
}

const PINGRESP = packet(0xd0, Buffer.alloc(0));
const SUBACK = packet(0x90, Buffer.from([0x00, 0x01, 0x01]));
const CONNACK = packet(0x20, Buffer.from([0x00, 0x00]));

/** Feeds `stream` in chunks of random sizes (seeded) and returns what came out and what was reported. */
async function run(max: number, stream: Buffer, seed: number, largestChunk = 300): Promise<{ out: Buffer; oversize: OversizePublish[]; peak: number }> {
  const oversize: OversizePublish[] = [];
  const filter = new OversizePacketFilter(max, (message) => oversize.push(message));
  const out: Buffer[] = [];
  let peak = 0;
  filter.on('data', (chunk: Buffer) => {
    out.push(chunk);
    peak = Math.max(peak, chunk.length);
  });
  const random = seededRandom(seed);
  for (let at = 0; at < stream.length; ) {
    const size = 1 + Math.floor(random() * largestChunk);
    filter.write(stream.subarray(at, at + size));
    at += size;
  }
  await new Promise<void>((resolve) => filter.end(resolve));
  return { out: Buffer.concat(out), oversize, peak };
}

describe('OversizePacketFilter', () => {
  it('passes every packet within the limit through unchanged, whatever the chunking', async () => {
    const small = [CONNACK, SUBACK, publish('a/b', Buffer.from('hello'), 1, 7), PINGRESP, publish('a/c', Buffer.alloc(900, 1), 0), publish('ü/ñ', Buffer.alloc(0), 1, 65535)];
    const stream = Buffer.concat(small);
    for (let seed = 1; seed <= 20; seed += 1) {
      const { out, oversize } = await run(1024, stream, seed, seed < 10 ? 3 : 500);
      expect(out.equals(stream)).toBe(true);
      expect(oversize).toEqual([]);
    }
  });

  it('drops oversize PUBLISH packets whole and reports their topic, QoS, packet id and size; the packets around them pass', async () => {
    const keep1 = publish('plant/cam', Buffer.from('ok-1'), 1, 1);
    const big1 = publish('plant/cam', Buffer.alloc(5_000, 0x7b), 1, 2);
    const keep2 = publish('plant/cam', Buffer.from('ok-2'), 0);
    const big2 = publish('plant/other', Buffer.alloc(200_000, 0x7b), 0);
    // One byte over: 1 type byte, 2 length bytes, then topic length (2), topic (1), packet id (2), payload (1017).
    const big3 = publish('x', Buffer.alloc(1017), 1, 300);
    const stream = Buffer.concat([keep1, big1, PINGRESP, keep2, big2, big3, SUBACK]);
    expect(big3.length).toBe(1025);
    for (let seed = 1; seed <= 20; seed += 1) {
      const { out, oversize } = await run(1024, stream, seed, seed < 5 ? 2 : 4096);
      expect(out.equals(Buffer.concat([keep1, PINGRESP, keep2, SUBACK]))).toBe(true);
      expect(oversize).toEqual([
        { topic: 'plant/cam', qos: 1, messageId: 2, bytes: big1.length },
        { topic: 'plant/other', qos: 0, bytes: big2.length },
        { topic: 'x', qos: 1, messageId: 300, bytes: big3.length },
      ]);
    }
  });

  it('holds the limit exactly: a packet of maxPacketBytes passes, one byte more does not', async () => {
    const atLimit = publish('t', Buffer.alloc(100 - 2 - 2 - 1 - 2), 1, 9);
    expect(atLimit.length).toBe(100);
    expect((await run(100, atLimit, 1)).out.equals(atLimit)).toBe(true);
    expect((await run(99, atLimit, 1)).oversize).toEqual([{ topic: 't', qos: 1, messageId: 9, bytes: 100 }]);
  });

  it('never emits any part of a 64 MiB PUBLISH streamed through it in socket-sized chunks', async () => {
    const payloadBytes = 64 * 1024 * 1024;
    // A QoS 1 PUBLISH with a 64 MiB payload, sent as its headers then 64 KiB chunks (never built whole here).
    const variableHeader = publish('plant/cam', Buffer.alloc(0), 1, 42).subarray(2);
    const head = Buffer.concat([Buffer.from([0x32]), remainingLength(variableHeader.length + payloadBytes), variableHeader]);
    const oversize: OversizePublish[] = [];
    const filter = new OversizePacketFilter(1024 * 1024, (message) => oversize.push(message));
    let emitted = 0;
    filter.on('data', (chunk: Buffer) => (emitted += chunk.length));
    filter.write(head);
    const chunk = Buffer.alloc(64 * 1024, 0x7b);
    for (let sent = 0; sent < payloadBytes; sent += chunk.length) filter.write(chunk);
    filter.write(PINGRESP);
    await new Promise<void>((resolve) => filter.end(resolve));
    expect(oversize).toEqual([{ topic: 'plant/cam', qos: 1, messageId: 42, bytes: head.length + payloadBytes }]);
    expect(emitted).toBe(PINGRESP.length);
  });

  it('hands malformed framing to the MQTT parser unchanged (it reports the error)', async () => {
    const malformed = Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00]);
    const { out } = await run(1024, malformed, 1, 2);
    expect(out.equals(malformed)).toBe(true);
  });
});

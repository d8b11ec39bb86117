import { describe, expect, it } from 'vitest';
import type { RawMessage } from '../../src/core/frame.ts';
import { peekEnvelope } from '../../src/decode/envelope-peek.ts';

function message(body: string | Buffer): RawMessage {
  return { flow: 'f', origin: 't', payload: { kind: 'bytes', bytes: Buffer.isBuffer(body) ? body : Buffer.from(body) }, receivedTs: 0, ack: () => undefined };
}

describe('peekEnvelope', () => {
  it.each([
    ['id and ts first', '{"id":"cam-7","ts":1796300000000,"values":[1,2,3]}', { id: 'cam-7', captureTs: 1796300000000 }],
    ['spaces, ts before id', ' \n{ "ts" : "1796300000000" , "id" : "a b" , "image": "..."}', { id: 'a b', captureTs: 1796300000000 }],
    ['an integer id, an ISO time', '{"id": 42, "ts": "2026-12-03T12:00:00Z"}', { id: '42', captureTs: Date.parse('2026-12-03T12:00:00Z') }],
    ['an escaped quote in the id', '{"id":"x\\"y","values":[]}', { id: 'x"y' }],
    ['a time in seconds (not a ms epoch) is left out', '{"id":"s","ts":1796300000}', { id: 's' }],
  ])('%s', (_name, body, expected) => {
    expect(peekEnvelope(message(body))).toEqual(expected);
  });

  it('reads only the head: an id after the first 512 bytes is not looked for', () => {
    const body = `{"values":[${Array.from({ length: 400 }, () => '0.1').join(',')}],"id":"late"}`;
    expect(peekEnvelope(message(body))).toBeUndefined();
  });

  it('says nothing for payloads that are not a JSON object', () => {
    expect(peekEnvelope(message(Buffer.from([0xff, 0xd8, 0xff, 0xe0])))).toBeUndefined();
    expect(peekEnvelope(message('[1,2,3]'))).toBeUndefined();
    expect(peekEnvelope({ flow: 'f', origin: 'n', payload: { kind: 'samples', values: new Float32Array(4) }, receivedTs: 0, ack: () => undefined })).toBeUndefined();
  });
});

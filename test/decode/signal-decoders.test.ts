import { describe, expect, it } from 'vitest';
import { createDecoder } from '../../src/decode/create-decoder.ts';
import type { DecodeResult } from '../../src/decode/decoder.ts';
import { preprocessSignal } from '../../src/decode/signal-window.ts';
import { ConfigError } from '../../src/errors.ts';
import { bytesMessage, float32Bytes, IMAGE_INPUT, message, RECEIVED_TS, SIGNAL_INPUT } from './helpers.ts';

const WINDOW = [1, 2, 3, 4, 5, 6, 7, 8];
const options = { flow: 'f', input: SIGNAL_INPUT, maxPayloadBytes: 1024, classes: ['normal', 'inner', 'outer'] };

function reason(result: DecodeResult): string | undefined {
  return result.ok ? undefined : result.error.reason;
}

describe('signal preprocessing', () => {
  it('z-scores each window with the population std', () => {
    const tensor = preprocessSignal(WINDOW, SIGNAL_INPUT.preprocessing as never);
    const mean = 4.5;
    const std = Math.sqrt(WINDOW.reduce((sum, x) => sum + (x - mean) ** 2, 0) / 8);
    expect(Array.from(tensor)).toEqual(WINDOW.map((x) => Math.fround((x - mean) / (std + 1e-8))));
  });
  it('maps a constant window to zeros instead of dividing by zero', () => {
    expect(Array.from(preprocessSignal(new Array(8).fill(3), SIGNAL_INPUT.preprocessing as never))).toEqual(new Array(8).fill(0));
  });
  it('keeps values as they are with normalization none', () => {
    expect(Array.from(preprocessSignal(WINDOW, { kind: 'signal', windowLength: 8, sampleRateHz: 1, normalization: 'none' }))).toEqual(WINDOW);
  });
});

describe('json-values decoder', () => {
  const decoder = createDecoder('json-values', options);

  it('decodes an envelope with id, ISO ts and label', async () => {
    const result = await decoder.decode(bytesMessage(JSON.stringify({ id: 'w-1', ts: '2026-11-28T10:00:00.000Z', values: WINDOW, label: 2 })));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.frame).toMatchObject({ flow: 'f', id: 'w-1', captureTs: Date.parse('2026-11-28T10:00:00.000Z'), captureTsSource: 'device', label: 2, receivedTs: RECEIVED_TS });
    expect(result.frame.tensor).toHaveLength(8);
  });

  it('takes id and capture time from the transport first, then the envelope, then the receive time', async () => {
    const both = await decoder.decode(bytesMessage(JSON.stringify({ id: 'env', ts: 1_764_000_000_500, values: WINDOW }), { id: 'transport', captureTs: 1_764_000_000_100 }));
    expect(both.ok && both.frame).toMatchObject({ id: 'transport', captureTs: 1_764_000_000_100, captureTsSource: 'device' });
    const envelope = await decoder.decode(bytesMessage(JSON.stringify({ id: 7, ts: 1_764_000_000_500, values: WINDOW })));
    expect(envelope.ok && envelope.frame).toMatchObject({ id: '7', captureTs: 1_764_000_000_500, captureTsSource: 'device' });
    const none = await decoder.decode(bytesMessage(JSON.stringify({ values: WINDOW })));
    expect(none.ok && none.frame).toMatchObject({ id: 'f-0', captureTs: RECEIVED_TS, captureTsSource: 'receive' });
  });

  it('accepts a label by class name', async () => {
    const result = await decoder.decode(bytesMessage(JSON.stringify({ values: WINDOW, label: 'inner' })));
    expect(result.ok && result.frame.label).toBe(1);
  });

  it.each([
    ['not json', 'bad-json'],
    ['[1,2,3]', 'bad-json'],
    ['{"id":"a"}', 'missing-field'],
    ['{"values":"1,2"}', 'bad-field-type'],
    ['{"values":[1,2,3]}', 'wrong-shape'],
    ['{"values":[1,2,3,4,5,6,7,null]}', 'bad-field-type'],
    ['{"values":[1,2,3,4,5,6,7,1e309]}', 'non-finite'],
    ['{"values":[1,2,3,4,5,6,7,8],"ts":true}', 'bad-field-type'],
    ['{"values":[1,2,3,4,5,6,7,8],"ts":1764000000}', 'bad-field-type'],
    ['{"values":[1,2,3,4,5,6,7,8],"ts":"yesterday"}', 'bad-field-type'],
    ['{"values":[1,2,3,4,5,6,7,8],"id":""}', 'bad-field-type'],
    ['{"values":[1,2,3,4,5,6,7,8],"label":3}', 'bad-field-type'],
    ['{"values":[1,2,3,4,5,6,7,8],"label":"rust"}', 'bad-field-type'],
    ['{"values":[1,2,3,4,5,6,7,8],"label":1.5}', 'bad-field-type'],
  ])('rejects %s as %s', async (payload, expected) => {
    expect(reason(await decoder.decode(bytesMessage(payload)))).toBe(expected);
  });

  it('checks the payload size before parsing and never echoes the payload', async () => {
    const secret = 'SECRET-PAYLOAD-' + 'x'.repeat(2000);
    const result = await decoder.decode(bytesMessage(secret));
    expect(reason(result)).toBe('payload-too-large');
    const bad = await decoder.decode(bytesMessage('{"values": "SECRET-PAYLOAD"}'));
    expect(bad.ok).toBe(false);
    if (!bad.ok) {
      expect(bad.error).toMatchObject({ code: 'EDGEKE_DECODE', retryable: false });
      expect(bad.error.message).not.toContain('SECRET');
    }
  });

  it('rejects a sample window (decoder does not fit its source)', async () => {
    expect(reason(await decoder.decode(message({ kind: 'samples', values: new Float32Array(8) })))).toBe('wrong-payload-kind');
  });
});

describe('float32 decoder', () => {
  const decoder = createDecoder('float32', options);

  it('reads little-endian float32, also from an unaligned buffer', async () => {
    const aligned = await decoder.decode(bytesMessage(float32Bytes(WINDOW)));
    const unaligned = await decoder.decode(bytesMessage(Buffer.concat([Buffer.from([0]), float32Bytes(WINDOW)]).subarray(1)));
    expect(aligned.ok && unaligned.ok).toBe(true);
    if (aligned.ok && unaligned.ok) {
      expect(Array.from(unaligned.frame.tensor)).toEqual(Array.from(aligned.frame.tensor));
      expect(Array.from(aligned.frame.tensor)).toEqual(Array.from(preprocessSignal(WINDOW, SIGNAL_INPUT.preprocessing as never)));
    }
  });

  it.each([
    [Buffer.alloc(31), 'wrong-shape'],
    [float32Bytes([1, 2, 3]), 'wrong-shape'],
    [float32Bytes([1, 2, 3, 4, 5, 6, 7, Number.NaN]), 'non-finite'],
    [float32Bytes([1, 2, 3, 4, 5, 6, 7, Number.POSITIVE_INFINITY]), 'non-finite'],
  ])('rejects %#', async (bytes, expected) => {
    expect(reason(await decoder.decode(bytesMessage(bytes)))).toBe(expected);
  });
});

describe('opcua-samples decoder', () => {
  const decoder = createDecoder('opcua-samples', options);

  it('normalises a joined window and keeps the source timestamp', async () => {
    const result = await decoder.decode(message({ kind: 'samples', values: Float32Array.from(WINDOW) }, { id: 'ns=1;s=X@1', captureTs: 1_764_000_000_000 }));
    expect(result.ok && result.frame).toMatchObject({ id: 'ns=1;s=X@1', captureTsSource: 'device' });
  });
  it('rejects short windows, NaN and bytes', async () => {
    expect(reason(await decoder.decode(message({ kind: 'samples', values: new Float32Array(7) })))).toBe('wrong-shape');
    expect(reason(await decoder.decode(message({ kind: 'samples', values: Float32Array.from([...WINDOW.slice(1), Number.NaN]) })))).toBe('non-finite');
    expect(reason(await decoder.decode(bytesMessage('x')))).toBe('wrong-payload-kind');
  });
});

describe('creating decoders', () => {
  it('refuses a decode kind that does not fit the model input', () => {
    expect(() => createDecoder('json-values', { ...options, input: IMAGE_INPUT })).toThrow(ConfigError);
    expect(() => createDecoder('image', { ...options, decodeImage: async () => new Float32Array(16) })).toThrow(/needs a model with image input/);
    expect(() => createDecoder('image', { ...options, input: IMAGE_INPUT })).not.toThrow();
  });
});

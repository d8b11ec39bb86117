import { describe, expect, it } from 'vitest';
import { createDecoder } from '../../src/decode/create-decoder.ts';
import { DecodeError } from '../../src/decode/decode-error.ts';
import type { DecodeKindName } from '../../src/decode/decoder.ts';
import { bytesMessage, float32Bytes, IMAGE_INPUT, JPEG_4X4, message, PNG_4X4, seededRandom, SIGNAL_INPUT } from './helpers.ts';

const CASES_PER_KIND = 3000;
const SEEDS = { image: 1, 'json-values': 2, float32: 3, 'opcua-samples': 4 } satisfies Record<DecodeKindName, number>;

/** Valid payloads to mutate, so the fuzzer gets past the first checks. */
const SEEDS_PAYLOADS: Buffer[] = [
  Buffer.from(JSON.stringify({ id: 'a', ts: 1_764_000_000_000, values: [1, 2, 3, 4, 5, 6, 7, 8], label: 1 })),
  Buffer.from(JSON.stringify({ id: 'b', ts: '2026-11-28T10:00:00Z', image: Buffer.concat([PNG_4X4, Buffer.from('x')]).toString('base64') })),
  float32Bytes([1, 2, 3, 4, 5, 6, 7, 8]),
  Buffer.concat([JPEG_4X4, Buffer.from('jpeg-body')]),
];

const INTERESTING = ['{', '}', '[', ']', '"', ',', ':', 'null', 'true', '1e999', '-0', 'NaN', '\\u0000', '"values"', '"image"', '"ts"', '"label"', '"id"', '__proto__'];

function mutate(random: () => number): Buffer {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  if (random() < 0.2) {
    const bytes = Buffer.alloc(Math.floor(random() * 80));
    for (let index = 0; index < bytes.length; index += 1) bytes[index] = Math.floor(random() * 256);
    return bytes;
  }
  const bytes = Buffer.from(pick(SEEDS_PAYLOADS));
  let result: Buffer = bytes;
  const edits = 1 + Math.floor(random() * 4);
  for (let edit = 0; edit < edits; edit += 1) {
    const at = Math.floor(random() * (result.length + 1));
    const choice = random();
    if (choice < 0.35 && result.length > 0) result[Math.min(at, result.length - 1)] = Math.floor(random() * 256);
    else if (choice < 0.6) result = Buffer.concat([result.subarray(0, at), result.subarray(Math.min(result.length, at + 1 + Math.floor(random() * 8)))]);
    else if (choice < 0.85) result = Buffer.concat([result.subarray(0, at), Buffer.from(pick(INTERESTING)), result.subarray(at)]);
    else result = result.subarray(0, at);
  }
  return result;
}

describe('decoder fuzzing (seeded)', () => {
  it.each(Object.entries(SEEDS) as [DecodeKindName, number][])('%s: every input yields a Frame or a typed rejection', async (kind, seed) => {
    const random = seededRandom(seed);
    const decoder = createDecoder(kind, {
      flow: 'fuzz',
      input: kind === 'image' ? IMAGE_INPUT : SIGNAL_INPUT,
      maxPayloadBytes: 256,
      classes: ['a', 'b', 'c'],
      decodeImage: async (bytes) => {
        if (random() < 0.5) throw new Error(`sharp says no (${bytes.length} bytes)`);
        return new Float32Array(16);
      },
    });
    const reasons = new Map<string, number>();
    for (let index = 0; index < CASES_PER_KIND; index += 1) {
      const input =
        kind === 'opcua-samples' && random() < 0.8
          ? message({ kind: 'samples', values: Float32Array.from({ length: Math.floor(random() * 12) }, () => (random() < 0.05 ? Number.NaN : (random() - 0.5) * 10 ** Math.floor(random() * 80))) })
          : bytesMessage(mutate(random));
      const result = await decoder.decode(input);
      if (result.ok) {
        expect(result.frame.tensor.length).toBe(kind === 'image' ? 16 : 8);
        expect(result.frame.tensor.every(Number.isFinite)).toBe(true);
        reasons.set('ok', (reasons.get('ok') ?? 0) + 1);
      } else {
        expect(result.error).toBeInstanceOf(DecodeError);
        // 'internal' would be a decoder bug that the try/catch papered over.
        expect(result.error.reason, String((result.error.cause as Error | undefined)?.stack)).not.toBe('internal');
        reasons.set(result.error.reason, (reasons.get(result.error.reason) ?? 0) + 1);
      }
    }
    // The mutations reach both sides: some frames decode, some are rejected.
    expect(reasons.size).toBeGreaterThan(1);
  });
});

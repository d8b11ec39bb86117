import sharp, { type Sharp } from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDecoder } from '../../src/decode/create-decoder.ts';
import { DecodeError } from '../../src/decode/decode-error.ts';
import type { InputSpec } from '../../src/decode/input-spec.ts';
import { readImageSize } from '../../src/decode/image-header.ts';
import { resolveImageLimits } from '../../src/flows/schema.ts';
import { jpegSofDimensionsOffset } from '../helpers/hostile-images.ts';
import { bytesMessage, seededRandom } from './helpers.ts';

// The real image decoder (sharp/libvips, libjpeg-turbo, libspng) against corrupted JPEG and PNG files: every input
// must come back as a frame of finite values or a typed rejection, never a crash, a hang or an 'internal' error.
// Seeded, so a failure reproduces; bounded: the test fails past its time budget.

const CASES_PER_FORMAT = 1500;
const TIME_BUDGET_MS = 20_000;
const SIDE = 16;
const INPUT: InputSpec = {
  shape: [1, SIDE, SIDE],
  preprocessing: { kind: 'image', width: SIDE, height: SIDE, channels: 1, resize: 'bilinear', fit: 'fill', scale: 1 / 255, mean: [0.5], std: [0.25] },
};
const LIMITS = resolveImageLimits({}, INPUT.preprocessing as { width: number; height: number });
/** What a corrupted image may be answered with. */
const ALLOWED_REASONS = new Set(['bad-image', 'image-too-large', 'payload-too-large']);

async function noiseImage(random: () => number, width: number, height: number, channels: 1 | 3): Promise<Sharp> {
  const pixels = Buffer.alloc(width * height * channels);
  for (let index = 0; index < pixels.length; index += 1) pixels[index] = Math.floor(random() * 256);
  return sharp(pixels, { raw: { width, height, channels } });
}

/** Valid files of several encodings, so mutations reach the decoders' different paths. */
async function seedImages(format: 'jpeg' | 'png'): Promise<Buffer[]> {
  const random = seededRandom(format === 'png' ? 11 : 12);
  const shapes: [number, number, 1 | 3][] = [
    [16, 16, 1],
    [24, 9, 3],
    [40, 40, 3],
  ];
  const seeds: Buffer[] = [];
  for (const [width, height, channels] of shapes) {
    const image = await noiseImage(random, width, height, channels);
    if (format === 'png') {
      seeds.push(await image.clone().png().toBuffer(), await image.clone().png({ progressive: true }).toBuffer(), await image.clone().png({ palette: true }).toBuffer());
    } else {
      seeds.push(await image.clone().jpeg().toBuffer(), await image.clone().jpeg({ progressive: true }).toBuffer(), await image.clone().jpeg({ chromaSubsampling: '4:4:4', quality: 30 }).toBuffer());
    }
  }
  return seeds;
}

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];
const INTERESTING_RUNS = [
  Buffer.from([0xff, 0xd8]),
  Buffer.from([0xff, 0xd9]),
  Buffer.from([0xff, 0xda, 0x00, 0x02]),
  Buffer.from([0xff, 0xc0, 0x00, 0x11, 0x08, 0xff, 0xff, 0xff, 0xff, 0x01]),
  Buffer.from('IDAT'),
  Buffer.from('IEND'),
  Buffer.from([0xff, 0xff, 0xff, 0xff]),
  Buffer.from([0x00, 0x00, 0x00, 0x00]),
];

/** The byte offset of the width/height fields, to aim some mutations at the declared size. */
function dimensionOffset(image: Buffer, format: 'jpeg' | 'png'): number {
  return format === 'png' ? 16 : jpegSofDimensionsOffset(image);
}

function mutate(random: () => number, seeds: readonly Buffer[], format: 'jpeg' | 'png'): Buffer {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const seed = pick(seeds);
  let result = Buffer.from(seed);
  const edits = 1 + Math.floor(random() * 4);
  for (let edit = 0; edit < edits; edit += 1) {
    // Keep the magic bytes most of the time: past the sniffing is where the decoder lives.
    const at = 8 + Math.floor(random() * Math.max(1, result.length - 8));
    const choice = random();
    if (choice < 0.3) {
      const index = Math.min(at, result.length - 1);
      result[index] = (result[index] ?? 0) ^ (1 << Math.floor(random() * 8));
    } else if (choice < 0.45) {
      result[Math.min(at, result.length - 1)] = pick(INTERESTING_BYTES);
    } else if (choice < 0.55) {
      const dimensions = dimensionOffset(seed, format);
      if (dimensions + 8 <= result.length) result[dimensions + Math.floor(random() * (format === 'png' ? 8 : 4))] = Math.floor(random() * 256);
    } else if (choice < 0.65) {
      result = Buffer.concat([result.subarray(0, at), result.subarray(Math.min(result.length, at + 1 + Math.floor(random() * 64)))]);
    } else if (choice < 0.75) {
      result = Buffer.concat([result.subarray(0, at), pick(INTERESTING_RUNS), result.subarray(at)]);
    } else if (choice < 0.85) {
      // Duplicate a slice (repeated chunks, segments, scans).
      const from = Math.floor(random() * result.length);
      const slice = result.subarray(from, from + Math.floor(random() * 200));
      result = Buffer.concat([result.subarray(0, at), slice, result.subarray(at)]);
    } else if (choice < 0.95) {
      result = result.subarray(0, at);
    } else {
      // Splice the head of one file with the tail of another.
      const other = pick(seeds);
      result = Buffer.concat([result.subarray(0, at), other.subarray(Math.floor(random() * other.length))]);
    }
  }
  return result;
}

describe('image decoder fuzzing with sharp (seeded, corrupted JPEG and PNG)', () => {
  const seeds = new Map<'jpeg' | 'png', Buffer[]>();
  beforeAll(async () => {
    seeds.set('png', await seedImages('png'));
    seeds.set('jpeg', await seedImages('jpeg'));
  });

  it.each(['png', 'jpeg'] as const)(
    '%s: every corrupted file yields a frame of finite values or a typed rejection, within the time budget',
    async (format) => {
      const started = performance.now();
      const random = seededRandom(format === 'png' ? 101 : 102);
      // No decodeImage: the decoder loads the runtime's own (src/decode/image.ts, sharp).
      const decoder = createDecoder('image', { flow: 'fuzz', input: INPUT, maxPayloadBytes: 64 * 1024 });
      const outcomes = new Map<string, number>();
      const formatSeeds = seeds.get(format) ?? [];
      for (const seed of formatSeeds) expect((await decoder.decode(bytesMessage(seed))).ok, 'every seed decodes').toBe(true);
      for (let index = 0; index < CASES_PER_FORMAT; index += 1) {
        const input = mutate(random, formatSeeds, format);
        const result = await decoder.decode(bytesMessage(input));
        if (result.ok) {
          expect(result.frame.tensor).toHaveLength(SIDE * SIDE);
          expect(result.frame.tensor.every(Number.isFinite)).toBe(true);
          outcomes.set('ok', (outcomes.get('ok') ?? 0) + 1);
        } else {
          expect(result.error).toBeInstanceOf(DecodeError);
          expect(ALLOWED_REASONS.has(result.error.reason), `case ${index}: ${result.error.message} ${String((result.error.cause as Error | undefined)?.message)}`).toBe(true);
          outcomes.set(result.error.reason, (outcomes.get(result.error.reason) ?? 0) + 1);
        }
        // A declared size over the limits never reaches sharp.
        const declared = readImageSize(input, format);
        if (declared !== undefined && (declared.width > LIMITS.maxSide || declared.height > LIMITS.maxSide || declared.width * declared.height > LIMITS.maxPixels)) {
          expect(result.ok ? 'ok' : result.error.reason, `case ${index}: ${declared.width}x${declared.height}`).toBe('image-too-large');
        }
      }
      const elapsedMs = performance.now() - started;
      // The mutations reach every side: clean decodes, corrupt files and oversize declarations.
      expect(outcomes.get('ok') ?? 0, JSON.stringify([...outcomes])).toBeGreaterThan(0);
      expect(outcomes.get('bad-image') ?? 0, JSON.stringify([...outcomes])).toBeGreaterThan(0);
      expect(outcomes.get('image-too-large') ?? 0, JSON.stringify([...outcomes])).toBeGreaterThan(0);
      expect(elapsedMs).toBeLessThan(TIME_BUDGET_MS);
    },
    TIME_BUDGET_MS + 10_000,
  );
});

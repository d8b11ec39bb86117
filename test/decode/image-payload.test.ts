import { describe, expect, it } from 'vitest';
import { createDecoder } from '../../src/decode/create-decoder.ts';
import type { ImageTensorDecoder } from '../../src/decode/decoder.ts';
import { sniffImageFormat } from '../../src/decode/image-payload.ts';
import { bytesMessage, IMAGE_INPUT, JPEG_4X4, JPEG_HEADER, PNG_4X4, PNG_HEADER, seededRandom } from './helpers.ts';

/** Stands in for src/decode/image.ts (sharp): records what it got, returns a tensor of the model's size. */
function fakeImageDecoder(): { decodeImage: ImageTensorDecoder; seen: Buffer[] } {
  const seen: Buffer[] = [];
  return {
    seen,
    decodeImage: async (bytes) => {
      seen.push(bytes);
      if (bytes.includes('corrupt')) throw new Error('Input buffer has corrupt header');
      return new Float32Array(16).fill(0.5);
    },
  };
}

describe('image payloads', () => {
  it('sniffs JPEG and PNG by magic bytes', () => {
    expect(sniffImageFormat(Buffer.concat([JPEG_HEADER, Buffer.from('...')]))).toBe('jpeg');
    expect(sniffImageFormat(Buffer.concat([PNG_HEADER, Buffer.from('...')]))).toBe('png');
    expect(sniffImageFormat(Buffer.from('GIF89a'))).toBeUndefined();
    expect(sniffImageFormat(Buffer.alloc(0))).toBeUndefined();
  });

  it('hands raw image bytes to the image decoder', async () => {
    const fake = fakeImageDecoder();
    const decoder = createDecoder('image', { flow: 'cam', input: IMAGE_INPUT, maxPayloadBytes: 1000, decodeImage: fake.decodeImage });
    const png = Buffer.concat([PNG_4X4, Buffer.from('pixels')]);
    const result = await decoder.decode(bytesMessage(png, { id: 'img-1', captureTs: 1_764_000_000_000 }));
    expect(result.ok && result.frame).toMatchObject({ id: 'img-1', captureTsSource: 'device' });
    expect(fake.seen[0]?.equals(png)).toBe(true);
  });

  it('decodes a JSON envelope with a base64 image (data URL prefix allowed)', async () => {
    const fake = fakeImageDecoder();
    const decoder = createDecoder('image', { flow: 'cam', input: IMAGE_INPUT, maxPayloadBytes: 1000, decodeImage: fake.decodeImage, classes: ['a', 'b'] });
    const jpeg = Buffer.concat([JPEG_4X4, Buffer.from('pixels')]);
    const plain = await decoder.decode(bytesMessage(JSON.stringify({ id: 'e-1', ts: 1_764_000_000_123, image: jpeg.toString('base64'), label: 1 })));
    expect(plain.ok && plain.frame).toMatchObject({ id: 'e-1', captureTs: 1_764_000_000_123, label: 1 });
    const dataUrl = await decoder.decode(bytesMessage(JSON.stringify({ id: 'e-2', image: `data:image/jpeg;base64,${jpeg.toString('base64')}` })));
    expect(dataUrl.ok).toBe(true);
    expect(fake.seen.every((bytes) => bytes.equals(jpeg))).toBe(true);
  });

  it.each([
    [Buffer.from('GIF89a....'), 'bad-image'],
    [Buffer.concat([PNG_4X4, Buffer.from('corrupt')]), 'bad-image'],
    [Buffer.concat([PNG_HEADER, Buffer.from('no IHDR')]), 'bad-image'],
    [Buffer.from('{"id":"x"}'), 'missing-field'],
    [Buffer.from('{"image":42}'), 'bad-field-type'],
    [Buffer.from('{"image":"***"}'), 'bad-base64'],
    [Buffer.from('{"image":"R0lGODlh"}'), 'bad-image'],
    [Buffer.from('{"image":'), 'bad-json'],
    [Buffer.alloc(2000), 'payload-too-large'],
  ])('rejects %# with %s', async (bytes, expected) => {
    const decoder = createDecoder('image', { flow: 'cam', input: IMAGE_INPUT, maxPayloadBytes: 1000, decodeImage: fakeImageDecoder().decodeImage });
    const result = await decoder.decode(bytesMessage(bytes));
    expect(result.ok ? 'ok' : result.error.reason).toBe(expected);
  });

  it('keeps the envelope id, ts and label of an image rejected after the envelope was read', async () => {
    const decoder = createDecoder('image', { flow: 'cam', input: IMAGE_INPUT, maxPayloadBytes: 1000, decodeImage: fakeImageDecoder().decodeImage, classes: ['a', 'b'] });
    const envelope = { id: 'cam-7', ts: 1_764_000_000_123, label: 'b' };
    for (const [image, reason] of [['***', 'bad-base64'], ['R0lGODlh', 'bad-image'], [Buffer.concat([PNG_4X4, Buffer.from('corrupt')]).toString('base64'), 'bad-image']]) {
      const result = await decoder.decode(bytesMessage(JSON.stringify({ ...envelope, image })));
      expect(result.ok ? undefined : { reason: result.error.reason, envelope: result.error.envelope }).toEqual({ reason, envelope: { id: 'cam-7', captureTs: 1_764_000_000_123, label: 1 } });
    }
    // A bad field after a good id and ts: the id and ts are still kept.
    const badLabel = await decoder.decode(bytesMessage(JSON.stringify({ ...envelope, label: 'c', image: '***' })));
    expect(badLabel.ok ? undefined : badLabel.error.envelope).toEqual({ id: 'cam-7', captureTs: 1_764_000_000_123 });
  });

  it('rejects an image decoder result of the wrong size as wrong-shape', async () => {
    const decoder = createDecoder('image', { flow: 'cam', input: IMAGE_INPUT, maxPayloadBytes: 1000, decodeImage: async () => new Float32Array(15) });
    const result = await decoder.decode(bytesMessage(Buffer.concat([PNG_4X4, Buffer.from('x')])));
    expect(result.ok ? 'ok' : result.error.reason).toBe('wrong-shape');
  });
});

describe('image payloads through the real image decoder (sharp)', () => {
  const input = {
    shape: [1, 8, 8],
    preprocessing: { kind: 'image' as const, width: 8, height: 8, channels: 1 as const, resize: 'bilinear' as const, fit: 'fill' as const, scale: 1 / 255, mean: [0.5], std: [0.25] },
  };

  async function png(width: number, height: number): Promise<Buffer> {
    const { default: sharp } = await import('sharp');
    return sharp({ create: { width, height, channels: 3, background: { r: 200, g: 100, b: 50 } } }).png().toBuffer();
  }

  it('decodes PNG and JPEG (raw and in a JSON envelope) into the model input', async () => {
    const { default: sharp } = await import('sharp');
    const decoder = createDecoder('image', { flow: 'cam', input, maxPayloadBytes: 1_000_000 });
    const pngBytes = await png(16, 12);
    const jpegBytes = await sharp(pngBytes).jpeg().toBuffer();
    for (const payload of [pngBytes, jpegBytes, Buffer.from(JSON.stringify({ id: 'j', ts: 1_764_000_000_000, image: pngBytes.toString('base64') }))]) {
      const result = await decoder.decode(bytesMessage(payload));
      expect(result.ok ? result.frame.tensor.length : result.error.message).toBe(64);
    }
  });

  it('turns corrupt or truncated images into bad-image (or image-too-large), never a crash (seeded mutations)', async () => {
    const decoder = createDecoder('image', { flow: 'cam', input, maxPayloadBytes: 1_000_000 });
    const valid = await png(8, 8);
    const random = seededRandom(7);
    const reasons = new Set<string>();
    for (let index = 0; index < 200; index += 1) {
      const bytes = Buffer.from(valid);
      const mutated = random() < 0.5 ? bytes.subarray(0, 8 + Math.floor(random() * (bytes.length - 8))) : bytes;
      for (let flip = 0; flip < 3; flip += 1) {
        const at = 8 + Math.floor(random() * (mutated.length - 8));
        mutated[at] = Math.floor(random() * 256);
      }
      const result = await decoder.decode(bytesMessage(mutated));
      reasons.add(result.ok ? 'ok' : result.error.reason);
    }
    expect([...reasons].every((reason) => reason === 'ok' || reason === 'bad-image' || reason === 'image-too-large')).toBe(true);
    expect(reasons.has('bad-image')).toBe(true);
  });
});

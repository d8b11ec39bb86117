import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { createDecoder } from '../../src/decode/create-decoder.ts';
import { readImageSize } from '../../src/decode/image-header.ts';
import type { ImageLimits } from '../../src/decode/decoder.ts';
import { resolveImageLimits } from '../../src/decode/image-limits.ts';
import { jpegDeclaring, pngDeclaring, solidPng } from '../helpers/hostile-images.ts';
import { bytesMessage, IMAGE_INPUT } from './helpers.ts';

describe('readImageSize', () => {
  it.each([
    [1, 1],
    [200, 200],
    [640, 17],
    [3, 4000],
  ])('reads %ix%i from the PNG and JPEG that sharp writes', async (width, height) => {
    const image = sharp({ create: { width, height, channels: 3, background: { r: 1, g: 2, b: 3 } } });
    expect(readImageSize(await image.clone().png().toBuffer(), 'png')).toEqual({ width, height, components: 3 });
    expect(readImageSize(await image.clone().jpeg().toBuffer(), 'jpeg')).toEqual({ width, height, components: 3 });
    expect(readImageSize(await image.clone().jpeg({ progressive: true }).toBuffer(), 'jpeg')).toEqual({ width, height, components: 3 });
  });

  it('reads the colour components the header declares: grey, grey + alpha, colour + alpha', async () => {
    const create = (channels: 1 | 2 | 3 | 4) => sharp({ create: { width: 9, height: 7, channels: channels === 1 || channels === 2 ? 3 : channels, background: { r: 5, g: 5, b: 5, alpha: 0.5 } } });
    expect(readImageSize(await create(3).clone().toColourspace('b-w').jpeg().toBuffer(), 'jpeg')?.components).toBe(1);
    expect(readImageSize(await create(3).clone().toColourspace('b-w').png().toBuffer(), 'png')?.components).toBe(1);
    expect(readImageSize(await create(4).clone().toColourspace('b-w').png().toBuffer(), 'png')?.components).toBe(2);
    expect(readImageSize(await create(4).clone().png().toBuffer(), 'png')?.components).toBe(4);
    expect(readImageSize(await create(3).clone().png({ palette: true }).toBuffer(), 'png')?.components).toBe(3);
  });

  it('skips an EXIF block (which may carry a thumbnail with its own frame header) to the real frame header', async () => {
    const jpeg = await sharp({ create: { width: 48, height: 20, channels: 3, background: { r: 1, g: 2, b: 3 } } })
      .withMetadata({ exif: { IFD0: { Copyright: 'x'.repeat(300) } } })
      .jpeg()
      .toBuffer();
    expect(jpeg.includes(Buffer.from('Exif'))).toBe(true);
    expect(readImageSize(jpeg, 'jpeg')).toEqual({ width: 48, height: 20, components: 3 });
  });

  it('reads what crafted files declare, however small they are', async () => {
    const png = pngDeclaring(30_000, 30_000);
    expect(png.length).toBeLessThan(2_000);
    expect(readImageSize(png, 'png')).toMatchObject({ width: 30_000, height: 30_000 });
    expect(readImageSize(await jpegDeclaring(65_000, 65_000), 'jpeg')).toMatchObject({ width: 65_000, height: 65_000 });
  });

  it('gives up on truncated headers, a zero dimension and a scan before any frame header', async () => {
    const png = await solidPng(8, 8);
    const jpeg = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 1, g: 2, b: 3 } } }).jpeg().toBuffer();
    for (let length = 0; length < 24; length += 1) expect(readImageSize(png.subarray(0, length), 'png')).toBeUndefined();
    for (const length of [2, 3, 4, 5, 20]) expect(readImageSize(jpeg.subarray(0, length), 'jpeg')).toBeUndefined();
    expect(readImageSize(pngDeclaring(0, 10), 'png')).toBeUndefined();
    expect(readImageSize(await jpegDeclaring(10, 0), 'jpeg')).toBeUndefined();
    expect(readImageSize(Buffer.from([0xff, 0xd8, 0xff, 0xda, 0x00, 0x08]), 'jpeg')).toBeUndefined();
    expect(readImageSize(Buffer.from([0xff, 0xd8, 0x00, 0x00]), 'jpeg')).toBeUndefined();
  });
});

describe('image limits in the decoder', () => {
  function decoderWith(limits: ImageLimits | undefined) {
    const decoded: number[] = [];
    const decoder = createDecoder('image', {
      flow: 'f',
      input: IMAGE_INPUT,
      maxPayloadBytes: 1 << 20,
      ...(limits === undefined ? {} : { imageLimits: () => limits }),
      decodeImage: async (bytes) => {
        decoded.push(bytes.length);
        return new Float32Array(16);
      },
    });
    return { decoder, decoded };
  }

  it('derives the default from the model input: 16x its side, 64x its pixels', () => {
    expect(resolveImageLimits({}, { width: 200, height: 200 })).toEqual({ maxPixels: 2_560_000, maxSide: 3200 });
    expect(resolveImageLimits({ maxImagePixels: 10, maxImageSide: 5 }, { width: 200, height: 200 })).toEqual({ maxPixels: 10, maxSide: 5 });
  });

  it('rejects a declared 30000x30000 PNG and a 65000x65000 JPEG as image-too-large without handing them to the decoder', async () => {
    const { decoder, decoded } = decoderWith(undefined);
    for (const image of [pngDeclaring(30_000, 30_000), await jpegDeclaring(65_000, 65_000)]) {
      const result = await decoder.decode(bytesMessage(image));
      expect(result.ok ? 'ok' : result.error.reason).toBe('image-too-large');
      // And inside a JSON envelope.
      const envelope = await decoder.decode(bytesMessage(JSON.stringify({ id: 'x', image: image.toString('base64') })));
      expect(envelope.ok ? 'ok' : envelope.error.reason).toBe('image-too-large');
    }
    expect(decoded).toEqual([]);
  });

  it('holds the limits exactly: at the bound decodes, one pixel over is rejected', async () => {
    // Default for the 4x4 input: side 64, pixels 1024.
    const { decoder, decoded } = decoderWith(undefined);
    const verdict = async (width: number, height: number): Promise<string> => {
      const result = await decoder.decode(bytesMessage(await solidPng(width, height)));
      return result.ok ? 'ok' : result.error.reason;
    };
    expect(await verdict(32, 32)).toBe('ok');
    expect(await verdict(64, 16)).toBe('ok');
    expect(await verdict(65, 1)).toBe('image-too-large');
    expect(await verdict(33, 32)).toBe('image-too-large');
    expect(decoded).toHaveLength(2);

    const custom = decoderWith({ maxPixels: 100, maxSide: 10 });
    expect((await custom.decoder.decode(bytesMessage(await solidPng(10, 10)))).ok).toBe(true);
    const over = await custom.decoder.decode(bytesMessage(await solidPng(10, 11)));
    expect(over.ok ? 'ok' : over.error.message).toMatch(/^image-too-large: 10x11 image: a side exceeds limits.maxImageSide 10$/);
  });

  it('reads the limits per frame, so a live edit applies from the next frame', async () => {
    let limits: ImageLimits = { maxPixels: 10_000, maxSide: 100 };
    const decoder = createDecoder('image', { flow: 'f', input: IMAGE_INPUT, maxPayloadBytes: 1 << 20, imageLimits: () => limits, decodeImage: async () => new Float32Array(16) });
    const png = await solidPng(50, 50);
    expect((await decoder.decode(bytesMessage(png))).ok).toBe(true);
    limits = { maxPixels: 100, maxSide: 100 };
    expect((await decoder.decode(bytesMessage(png))).ok).toBe(false);
  });
});

import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImage, type ImagePreprocessing } from '../../src/decode/image.ts';

const gray: ImagePreprocessing = { width: 4, height: 2, channels: 1, resize: 'bilinear', fit: 'fill', scale: 1 / 255, mean: [0.5], std: [0.25] };

function png(pixels: number[], width: number, height: number, channels: 1 | 3): Promise<Buffer> {
  return sharp(Buffer.from(pixels), { raw: { width, height, channels } }).png().toBuffer();
}

describe('decodeImage', () => {
  it('normalises a grayscale PNG: (pixel * scale - mean) / std, row-major', async () => {
    const pixels = [0, 255, 128, 64, 10, 20, 30, 40];
    const out = await decodeImage(await png(pixels, 4, 2, 1), gray);
    expect(Array.from(out)).toEqual(pixels.map((p) => Math.fround((p / 255 - 0.5) / 0.25)));
  });

  it("converts RGB to luminance with PIL's integer weights", async () => {
    const rgb = [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 200, 30, 0, 0, 0, 255, 255, 255, 1, 2, 3, 90, 80, 70];
    const out = await decodeImage(await png(rgb, 4, 2, 3), { ...gray, scale: 1, mean: [0], std: [1] });
    const luma = (r: number, g: number, b: number): number => (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
    const expected = [];
    for (let i = 0; i < rgb.length; i += 3) expected.push(luma(rgb[i] as number, rgb[i + 1] as number, rgb[i + 2] as number));
    expect(Array.from(out)).toEqual(expected);
  });

  it('keeps three channels planar (CHW) with per-channel mean and std', async () => {
    const rgb = [10, 20, 30, 40, 50, 60];
    const out = await decodeImage(await png(rgb, 2, 1, 3), {
      width: 2, height: 1, channels: 3, resize: 'nearest', fit: 'fill', scale: 1, mean: [0, 10, 20], std: [1, 2, 5],
    });
    expect(Array.from(out)).toEqual([10, 40, (20 - 10) / 2, (50 - 10) / 2, (30 - 20) / 5, (60 - 20) / 5]);
  });

  it('resizes to the manifest size (fill) when the image differs', async () => {
    const big = await sharp({ create: { width: 32, height: 16, channels: 3, background: { r: 200, g: 200, b: 200 } } }).jpeg().toBuffer();
    const out = await decodeImage(big, { ...gray, scale: 1, mean: [0], std: [1] });
    expect(out).toHaveLength(8);
    for (const v of out) expect(v).toBeCloseTo(200, -1);
  });

  it('resizes a grey image pixel by pixel, whatever channel count sharp hands back after resizing', async () => {
    // A horizontal ramp, 8x4 -> 4x2: each output pixel is one distinct value. sharp returns a resized one-channel raw
    // image with three equal channels; reading them as one channel scrambled the rows.
    const ramp = Array.from({ length: 32 }, (_, i) => (i % 8) * 30);
    const out = await decodeImage(await png(ramp, 8, 4, 1), { ...gray, scale: 1, mean: [0], std: [1] });
    const reference = await sharp(Buffer.from(ramp), { raw: { width: 8, height: 4, channels: 1 } })
      .resize(4, 2, { fit: 'fill', kernel: 'linear' })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    const expected = Array.from({ length: 8 }, (_, i) => reference.data[i * reference.info.channels] as number);
    expect(Array.from(out)).toEqual(expected);
    expect(new Set(expected).size).toBeGreaterThan(2);
  });

  it('decodes a JPEG', async () => {
    const jpeg = await sharp({ create: { width: 4, height: 2, channels: 3, background: { r: 0, g: 0, b: 0 } } }).jpeg().toBuffer();
    const out = await decodeImage(jpeg, gray);
    for (const v of out) expect(v).toBeCloseTo(-2, 5);
  });

  it('refuses, before decoding, an image over the pixel limit it is given (8-bit and 16-bit PNG)', async () => {
    const png = await sharp({ create: { width: 11, height: 10, channels: 3, background: { r: 1, g: 2, b: 3 } } }).png().toBuffer();
    await expect(decodeImage(png, gray, { maxPixels: 109 })).rejects.toThrow(/pixel/);
    await expect(decodeImage(png, gray, { maxPixels: 110 })).resolves.toHaveLength(8);
    // 16-bit PNGs go through sharp, whose own header reading refuses them.
    const deep = await sharp({ create: { width: 11, height: 10, channels: 3, background: { r: 1, g: 2, b: 3 } } }).png().toColourspace('rgb16').toBuffer();
    expect(deep[24]).toBe(16);
    await expect(decodeImage(deep, gray, { maxPixels: 109 })).rejects.toThrow(/pixel limit/);
  });

  it('decodes the same pixels from an 8-bit PNG and from a 16-bit one (the fallback decoder)', async () => {
    const pixels = [0, 255, 128, 64, 10, 20, 30, 40];
    const eight = await png(pixels, 4, 2, 1);
    const sixteen = await sharp(Buffer.from(pixels), { raw: { width: 4, height: 2, channels: 1 } }).toColourspace('grey16').png().toBuffer();
    expect(sixteen[24]).toBe(16);
    expect(Array.from(await decodeImage(sixteen, gray))).toEqual(Array.from(await decodeImage(eight, gray)));
  });

  it('rejects a JPEG or PNG cut short, which the fast decoder would fill in (a frame the camera never took)', async () => {
    const raw = Buffer.from(Array.from({ length: 64 * 64 * 3 }, (_, i) => (i * 7919) % 251));
    for (const format of ['jpeg', 'png'] as const) {
      const image = sharp(raw, { raw: { width: 64, height: 64, channels: 3 } });
      const whole = await (format === 'jpeg' ? image.jpeg() : image.png()).toBuffer();
      await expect(decodeImage(whole, gray)).resolves.toHaveLength(8);
      for (const share of [0.3, 0.6, 0.95]) await expect(decodeImage(whole.subarray(0, Math.floor(whole.length * share)), gray), `${format} cut at ${share}`).rejects.toThrow();
    }
    // Padding after the end-of-image marker is fine.
    const jpeg = await sharp(raw, { raw: { width: 64, height: 64, channels: 3 } }).jpeg().toBuffer();
    await expect(decodeImage(Buffer.concat([jpeg, Buffer.alloc(16)]), gray)).resolves.toHaveLength(8);
  });

  it('rejects bytes that are not an image', async () => {
    await expect(decodeImage(Buffer.from('not an image'), gray)).rejects.toThrow();
  });
});

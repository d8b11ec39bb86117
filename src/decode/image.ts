import sharp from 'sharp';
import type { ImageLimits } from './decoder.ts';
import type { ImagePreprocessingSpec } from './input-spec.ts';

/**
 * JPEG/PNG bytes -> model input, exactly as the manifest's image preprocessing says (docs/model-format.md):
 * decode to 8-bit, convert to `channels` (1 = luminance with PIL's integer ITU-R 601-2 weights, the conversion the
 * training data went through), resize to width x height if needed ("fill"), then value = (pixel * scale - mean[c]) /
 * std[c]. Output is planar (CHW), row-major, Float32Array of channels * height * width.
 */

/** The manifest's image preprocessing (docs/model-format.md); the `kind` tag is not needed here. */
export type ImagePreprocessing = Omit<ImagePreprocessingSpec, 'kind'>;

/**
 * Throws (sharp's error) when the bytes are not a decodable image. The caller has checked the declared size against
 * `limits` from the header (image-payload.ts); sharp checks `maxPixels` again from its own header reading, so an
 * image whose header fooled the first check still never gets a buffer larger than the limit.
 */
export async function decodeImage(
  bytes: Buffer | Uint8Array,
  preprocessing: ImagePreprocessing,
  limits?: Pick<ImageLimits, 'maxPixels'>,
): Promise<Float32Array> {
  const input = sharp(bytes, { limitInputPixels: limits?.maxPixels ?? true });
  const { data, info } = await input.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  let pixels = toChannels(data, info.width * info.height, info.channels, preprocessing.channels);
  if (info.width !== preprocessing.width || info.height !== preprocessing.height) {
    pixels = await sharp(pixels, { raw: { width: info.width, height: info.height, channels: preprocessing.channels } })
      .resize(preprocessing.width, preprocessing.height, {
        fit: 'fill',
        kernel: preprocessing.resize === 'nearest' ? 'nearest' : 'linear',
      })
      .raw({ depth: 'uchar' })
      .toBuffer();
  }
  return normalize(pixels, preprocessing);
}

/** Interleaved 8-bit pixels with `from` channels (1-4, alpha last) -> interleaved with `to` (1 or 3) channels. */
function toChannels(data: Uint8Array, count: number, from: number, to: 1 | 3): Uint8Array {
  if (from === to) return data; // already gray (or RGB): nothing to convert
  const out = new Uint8Array(count * to);
  const gray = from <= 2; // gray or gray + alpha
  for (let i = 0; i < count; i++) {
    const p = i * from;
    const r = data[p] as number;
    const g = gray ? r : (data[p + 1] as number);
    const b = gray ? r : (data[p + 2] as number);
    if (to === 1) {
      // PIL Image.convert('L'): (R*19595 + G*38470 + B*7471 + 0x8000) >> 16.
      out[i] = gray ? r : (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
    } else {
      out[i * 3] = r;
      out[i * 3 + 1] = g;
      out[i * 3 + 2] = b;
    }
  }
  return out;
}

function normalize(pixels: Uint8Array, p: ImagePreprocessing): Float32Array {
  const plane = p.width * p.height;
  const out = new Float32Array(plane * p.channels);
  for (let c = 0; c < p.channels; c++) {
    const mean = p.mean[c] ?? 0;
    const std = p.std[c] ?? 1;
    for (let i = 0; i < plane; i++) out[c * plane + i] = ((pixels[i * p.channels + c] as number) * p.scale - mean) / std;
  }
  return out;
}

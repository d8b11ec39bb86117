import { Transformer } from '@napi-rs/image';
import { modelInputPool } from '../core/float32-pool.ts';
import sharp from 'sharp';
import type { ImageLimits } from './decoder.ts';
import { readImageSize } from './image-header.ts';
import { sniffImageFormat } from './image-payload.ts';
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
 * Throws when the bytes are not a decodable image. The caller has checked the declared size against `limits` from
 * the header (image-payload.ts); it is checked again here before decoding, so an image whose header fooled the first
 * check still never gets a buffer larger than the limit.
 */
export async function decodeImage(
  bytes: Buffer | Uint8Array,
  preprocessing: ImagePreprocessing,
  limits?: Pick<ImageLimits, 'maxPixels'>,
): Promise<Float32Array> {
  const { data, info } = await decodePixels(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), limits);
  if (info.width === preprocessing.width && info.height === preprocessing.height) {
    // The usual case (cameras send the model's size): channels and normalisation in one pass over the pixels.
    return toModelInput(data, info.width * info.height, info.channels, preprocessing);
  }
  const converted = toChannels(data, info.width * info.height, info.channels, preprocessing.channels);
  const resized = await sharp(converted, { raw: { width: info.width, height: info.height, channels: preprocessing.channels } })
    .resize(preprocessing.width, preprocessing.height, {
      fit: 'fill',
      kernel: preprocessing.resize === 'nearest' ? 'nearest' : 'linear',
    })
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  // sharp may hand a resized one-channel image back with three (equal) channels: read the channels it says.
  return toModelInput(resized.data, preprocessing.width * preprocessing.height, resized.info.channels, preprocessing);
}

interface DecodedPixels {
  data: Uint8Array;
  info: { width: number; height: number; channels: number };
}

/**
 * True when the JPEG's end-of-image marker (FF D9) is among its last bytes (encoders may pad after it). Entropy-coded
 * data never holds FF D9 (an FF there is followed by 00 or a restart marker), so a file cut short fails.
 */
function endsWithJpegEoi(bytes: Buffer): boolean {
  const eoi = bytes.lastIndexOf(JPEG_EOI);
  return eoi >= 0 && eoi >= bytes.length - JPEG_EOI_SLACK_BYTES;
}

const JPEG_EOI = Buffer.from([0xff, 0xd9]);
const JPEG_EOI_SLACK_BYTES = 64;

/**
 * 8-bit JPEG and PNG decode with @napi-rs/image (Rust, off the main thread): a third of sharp's CPU per camera frame
 * (NEU 200x200 JPEG: ~0.5 against ~1.5 ms here, most of sharp's in its per-call pipeline set-up), with pixels within
 * one level of libjpeg-turbo's. Anything else (16-bit PNG, an image it cannot read) goes through sharp, with the pixel
 * limit as sharp's own backstop.
 */
async function decodePixels(bytes: Buffer, limits: Pick<ImageLimits, 'maxPixels'> | undefined): Promise<DecodedPixels> {
  const format = sniffImageFormat(bytes);
  const size = format === undefined ? undefined : readImageSize(bytes, format);
  const eightBit = format === 'jpeg' || (format === 'png' && bytes[24] === 8);
  // A JPEG cut short (a dropped link, a camera reset mid-send) has no end-of-image marker: the fast decoder fills in
  // what is missing and the model would answer a picture the camera never took. sharp refuses it (bad-image).
  if (size !== undefined && eightBit && (format !== 'jpeg' || endsWithJpegEoi(bytes))) {
    const pixels = size.width * size.height;
    if (limits !== undefined && pixels > limits.maxPixels) throw new Error(`${size.width}x${size.height} image exceeds ${limits.maxPixels} pixels`);
    try {
      // The decoder expands grey to RGB; asked for grey, it hands over a third of the bytes, the same values.
      const decoder = size.components === 1 ? new Transformer(bytes).grayscale() : new Transformer(bytes);
      const data = await decoder.rawPixels();
      const channels = data.length / pixels;
      if (Number.isInteger(channels) && channels >= 1 && channels <= 4) return { data, info: { ...size, channels } };
    } catch {
      // sharp below says whether it is really undecodable.
    }
  }
  return sharp(bytes, { limitInputPixels: limits?.maxPixels ?? true }).raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
}

/**
 * Interleaved 8-bit pixels with `from` channels (1-4, alpha last) -> the model's planar, normalised input with
 * `p.channels` (1 or 3), in one pass. Normalisation is a table lookup per channel and byte value.
 */
function toModelInput(data: Uint8Array, count: number, from: number, p: ImagePreprocessing): Float32Array {
  const table = normalisationTable(p);
  const out = modelInputPool.take(count * p.channels);
  const gray = from <= 2; // gray or gray + alpha
  if (p.channels === 1) {
    if (gray) {
      for (let i = 0; i < count; i++) out[i] = table[data[i * from] as number] as number;
    } else {
      for (let i = 0, q = 0; i < count; i++, q += from) {
        // PIL Image.convert('L'): (R*19595 + G*38470 + B*7471 + 0x8000) >> 16.
        const l = ((data[q] as number) * 19595 + (data[q + 1] as number) * 38470 + (data[q + 2] as number) * 7471 + 0x8000) >> 16;
        out[i] = table[l] as number;
      }
    }
    return out;
  }
  for (let i = 0, q = 0; i < count; i++, q += from) {
    const r = data[q] as number;
    out[i] = table[r] as number;
    out[count + i] = table[256 + (gray ? r : (data[q + 1] as number))] as number;
    out[2 * count + i] = table[512 + (gray ? r : (data[q + 2] as number))] as number;
  }
  return out;
}

const tables = new WeakMap<ImagePreprocessing, Float32Array>();

/** (byte * scale - mean[c]) / std[c] for every byte value of every channel, once per preprocessing spec. */
function normalisationTable(p: ImagePreprocessing): Float32Array {
  let table = tables.get(p);
  if (table !== undefined) return table;
  table = new Float32Array(256 * p.channels);
  for (let c = 0; c < p.channels; c++) {
    const mean = p.mean[c] ?? 0;
    const std = p.std[c] ?? 1;
    for (let v = 0; v < 256; v++) table[c * 256 + v] = (v * p.scale - mean) / std;
  }
  tables.set(p, table);
  return table;
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
      out[i] = gray ? r : (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
    } else {
      out[i * 3] = r;
      out[i * 3 + 1] = g;
      out[i * 3 + 2] = b;
    }
  }
  return out;
}

import type { RawMessage, RawPayload } from '../../src/core/frame.ts';
import type { InputSpec } from '../../src/decode/input-spec.ts';
import { pngDeclaring } from '../helpers/hostile-images.ts';
import { seededRandom } from '../helpers/seeded-random.ts';

export { seededRandom };

export const SIGNAL_INPUT: InputSpec = { shape: [1, 8], preprocessing: { kind: 'signal', windowLength: 8, sampleRateHz: 12_000, normalization: 'zscore' } };
export const IMAGE_INPUT: InputSpec = {
  shape: [1, 4, 4],
  preprocessing: { kind: 'image', width: 4, height: 4, channels: 1, resize: 'bilinear', fit: 'fill', scale: 1 / 255, mean: [0.5], std: [0.25] },
};
export const RECEIVED_TS = 1_764_000_000_000;

export function bytesMessage(bytes: Buffer | string, extra: Partial<RawMessage> = {}): RawMessage {
  return message({ kind: 'bytes', bytes: typeof bytes === 'string' ? Buffer.from(bytes) : bytes }, extra);
}

export function message(payload: RawPayload, extra: Partial<RawMessage> = {}): RawMessage {
  return { flow: 'f', origin: 'plant/x', payload, receivedTs: RECEIVED_TS, ack: () => undefined, ...extra };
}

export function float32Bytes(values: number[]): Buffer {
  const bytes = Buffer.alloc(values.length * 4);
  values.forEach((value, index) => bytes.writeFloatLE(value, index * 4));
  return bytes;
}

export const PNG_HEADER = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
export const JPEG_HEADER = Buffer.from([0xff, 0xd8, 0xff, 0xe0]);

/** Headers that declare a 4x4 image (the decoder reads the size before any decoding), followed by no real pixels. */
export const PNG_4X4 = pngDeclaring(4, 4, 0).subarray(0, 33);
/** SOI and a baseline frame header: 8-bit, 4 rows, 4 columns, one component. */
export const JPEG_4X4 = Buffer.from([0xff, 0xd8, 0xff, 0xc0, 0x00, 0x0b, 0x08, 0x00, 0x04, 0x00, 0x04, 0x01, 0x01, 0x11, 0x00]);

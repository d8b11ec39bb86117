import { DecodeError, keepingEnvelope } from './decode-error.ts';
import { resolveImageLimits } from './image-limits.ts';
import type { DecodedPayload, DecoderOptions, ImageLimits, PayloadDecoder } from './decoder.ts';
import { readImageSize } from './image-header.ts';
import type { ImagePreprocessingSpec } from './input-spec.ts';
import { parseJsonEnvelope, type JsonEnvelope } from './json-envelope.ts';
import { looksLikeJsonObject, payloadBytes } from './payload-bytes.ts';

const JPEG_MAGIC = Buffer.from([0xff, 0xd8, 0xff]);
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const DATA_URL_PREFIX = /^data:image\/[a-z+.-]+;base64,/i;

export type ImageFormat = 'jpeg' | 'png';

/** JPEG or PNG by magic bytes; anything else is not an image we decode. */
export function sniffImageFormat(bytes: Buffer): ImageFormat | undefined {
  if (bytes.length >= JPEG_MAGIC.length && bytes.subarray(0, JPEG_MAGIC.length).equals(JPEG_MAGIC)) return 'jpeg';
  if (bytes.length >= PNG_MAGIC.length && bytes.subarray(0, PNG_MAGIC.length).equals(PNG_MAGIC)) return 'png';
  return undefined;
}

/** Camera frames: raw JPEG/PNG bytes, or a JSON envelope `{"id", "ts", "image": "<base64>", "label"?}`. */
export const decodeImagePayload: PayloadDecoder = async (message, options) => {
  const bytes = payloadBytes(message);
  const envelope: JsonEnvelope | undefined = looksLikeJsonObject(bytes) ? parseJsonEnvelope(bytes, options.classes) : undefined;
  return keepingEnvelope(envelope, () => decodeImage(envelope === undefined ? bytes : base64Image(envelope.body.image), envelope, options));
};

async function decodeImage(image: Buffer, envelope: JsonEnvelope | undefined, options: DecoderOptions): Promise<DecodedPayload> {
  const format = sniffImageFormat(image);
  if (format === undefined) throw new DecodeError('bad-image', 'expected JPEG or PNG bytes');
  const preprocessing = options.input.preprocessing as ImagePreprocessingSpec;
  const limits = options.imageLimits?.() ?? resolveImageLimits({}, preprocessing);
  checkDeclaredSize(image, format, limits);
  const decodeTensor = options.decodeImage;
  if (decodeTensor === undefined) throw new DecodeError('internal', 'no image decoder was configured');
  let tensor: Float32Array;
  try {
    tensor = await decodeTensor(image, preprocessing, limits);
  } catch (error) {
    throw new DecodeError('bad-image', 'the image could not be decoded', { cause: error });
  }
  return { tensor, metadata: envelope ?? {} };
}

/** From the header alone, before the decoder allocates anything for the pixels. */
function checkDeclaredSize(image: Buffer, format: ImageFormat, limits: ImageLimits): void {
  const size = readImageSize(image, format);
  if (size === undefined) throw new DecodeError('bad-image', `the ${format.toUpperCase()} header declares no usable width and height`);
  const { width, height } = size;
  if (width > limits.maxSide || height > limits.maxSide) {
    throw new DecodeError('image-too-large', `${width}x${height} image: a side exceeds limits.maxImageSide ${limits.maxSide}`);
  }
  if (width * height > limits.maxPixels) {
    throw new DecodeError('image-too-large', `${width}x${height} image: ${width * height} pixels exceed limits.maxImagePixels ${limits.maxPixels}`);
  }
}

function base64Image(value: unknown): Buffer {
  if (value === undefined || value === null) throw new DecodeError('missing-field', 'expected an "image" field (base64 JPEG or PNG)');
  if (typeof value !== 'string') throw new DecodeError('bad-field-type', '"image" must be a base64 string');
  const text = value.replace(DATA_URL_PREFIX, '');
  if (text.length % 4 !== 0) throw new DecodeError('bad-base64', '"image" is not valid base64');
  // Node's decoder skips characters outside the alphabet and stops at misplaced padding, so strict validity is the
  // decoded length (checked natively: a regular expression over every image was a measurable share of intake).
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== (text.length / 4) * 3 - padding) throw new DecodeError('bad-base64', '"image" is not valid base64');
  return bytes;
}

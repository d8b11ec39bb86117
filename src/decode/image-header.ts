import type { ImageFormat } from './image-payload.ts';

/**
 * Width and height as an image's header declares them, read without decoding anything: a PNG of well under 1 MB can
 * declare 30000 x 30000 pixels (900 M raw pixels once decoded), so the size is checked before the decoder sees it.
 */
export interface ImageSize {
  width: number;
  height: number;
  /** Colour components the header declares (1 grey, 2 grey + alpha, 3 colour, 4 colour + alpha), when it says. */
  components?: number;
}

/** PNG colour type -> components (a palette image decodes to colour). */
const PNG_COMPONENTS: Readonly<Record<number, number>> = { 0: 1, 2: 3, 3: 3, 4: 2, 6: 4 };

const PNG_SIGNATURE_LENGTH = 8;
const IHDR = 0x49484452; // 'IHDR'

/**
 * The dimensions of a JPEG or PNG (format already sniffed from its magic bytes); undefined when the header is
 * missing, truncated or declares a zero dimension (such a file cannot be decoded either).
 */
export function readImageSize(bytes: Buffer, format: ImageFormat): ImageSize | undefined {
  const size = format === 'png' ? pngSize(bytes) : jpegSize(bytes);
  if (size === undefined || size.width === 0 || size.height === 0) return undefined;
  return size;
}

/** PNG: the first chunk must be IHDR (length 13): width and height are its first two big-endian uint32, then bit depth and colour type. */
function pngSize(bytes: Buffer): ImageSize | undefined {
  const ihdr = PNG_SIGNATURE_LENGTH;
  if (bytes.length < ihdr + 16) return undefined;
  if (bytes.readUInt32BE(ihdr) !== 13 || bytes.readUInt32BE(ihdr + 4) !== IHDR) return undefined;
  const components = PNG_COMPONENTS[bytes[ihdr + 17] as number];
  return { width: bytes.readUInt32BE(ihdr + 8), height: bytes.readUInt32BE(ihdr + 12), ...(components === undefined ? {} : { components }) };
}

/**
 * JPEG: walk the marker segments to the first start-of-frame (SOF0-SOF15 except DHT C4, JPG C8 and DAC CC), whose
 * payload is precision (1 byte), height and width (2 bytes each), then the component count (1 byte). libjpeg decodes with that first SOF and refuses a
 * second one. APPn segments (an EXIF thumbnail carries its own SOF) are skipped whole by their length.
 */
function jpegSize(bytes: Buffer): ImageSize | undefined {
  let at = 2; // after SOI
  while (at < bytes.length) {
    if (bytes[at] !== 0xff) return undefined; // not at a marker: corrupt
    while (at < bytes.length && bytes[at] === 0xff) at += 1; // fill bytes
    const marker = bytes[at];
    at += 1;
    if (marker === undefined) return undefined;
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue; // no length field
    if (marker === 0xd9 || marker === 0xda) return undefined; // end of image or scan data before any frame header
    if (at + 2 > bytes.length) return undefined;
    const length = bytes.readUInt16BE(at);
    if (length < 2) return undefined;
    if (isStartOfFrame(marker)) {
      if (length < 7 || at + 7 > bytes.length) return undefined;
      const size = { height: bytes.readUInt16BE(at + 3), width: bytes.readUInt16BE(at + 5) };
      return length >= 8 && at + 8 <= bytes.length ? { ...size, components: bytes[at + 7] as number } : size;
    }
    at += length;
  }
  return undefined;
}

function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

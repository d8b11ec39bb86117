import { deflateSync } from 'node:zlib';
import sharp from 'sharp';

/**
 * Crafted images that are small on the wire and huge once decoded, the way an attacker (or a broken camera) would
 * send them. Each is a well-formed file: checksums are right, so only the declared size gives them away.
 */

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = (CRC_TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/**
 * A grayscale 8-bit PNG declaring width x height whose IDAT holds the first `rows` rows (all zero, so they deflate
 * to almost nothing): 30000 x 30000 is 900 M pixels in about a kilobyte.
 */
export function pngDeclaring(width: number, height: number, rows = 4): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.writeUInt8(8, 8); // bit depth
  ihdr.writeUInt8(0, 9); // grayscale
  const raw = Buffer.alloc(Math.min(rows, height) * (width + 1)); // filter byte + pixels per row
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(raw, { level: 9 })),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Offset of the first SOF segment's height field in a baseline or progressive JPEG. */
export function jpegSofDimensionsOffset(jpeg: Buffer): number {
  let at = 2;
  while (at + 4 <= jpeg.length) {
    const marker = jpeg[at + 1] as number;
    const length = jpeg.readUInt16BE(at + 2);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) return at + 5;
    at += 2 + length;
  }
  throw new Error('no SOF segment');
}

/** A real JPEG (made by sharp) whose frame header is rewritten to declare width x height: a decompression bomb. */
export async function jpegDeclaring(width: number, height: number): Promise<Buffer> {
  const jpeg = await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 90, g: 120, b: 30 } } }).jpeg().toBuffer();
  const at = jpegSofDimensionsOffset(jpeg);
  jpeg.writeUInt16BE(height, at);
  jpeg.writeUInt16BE(width, at + 2);
  return jpeg;
}

/** A real JPEG or PNG of width x height full of detail (so cutting it short cuts into its pixel data). */
export function detailedImage(format: 'jpeg' | 'png', width: number, height: number): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  for (let i = 0; i < raw.length; i += 1) raw[i] = (i * 7919) % 251;
  const image = sharp(raw, { raw: { width, height, channels: 3 } });
  return (format === 'jpeg' ? image.jpeg() : image.png()).toBuffer();
}

/** A real, uniformly grey PNG of width x height: compresses to a few kilobytes whatever its size. */
export function solidPng(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 128, g: 128, b: 128 } } })
    .png({ compressionLevel: 9 })
    .toBuffer();
}

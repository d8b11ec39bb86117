import type { RawMessage } from '../core/frame.ts';
import { DecodeError } from './decode-error.ts';

/** The bytes of a byte payload (MQTT); a samples payload here means the flow's decoder does not fit its source. */
export function payloadBytes(message: RawMessage): Buffer {
  if (message.payload.kind !== 'bytes') throw new DecodeError('wrong-payload-kind', 'this decoder reads byte payloads, got a sample window');
  return message.payload.bytes;
}

/** JSON envelopes start with '{' (after optional whitespace or a UTF-8 byte order mark). */
export function looksLikeJsonObject(bytes: Buffer): boolean {
  for (let index = 0; index < bytes.length && index < 64; index += 1) {
    const byte = bytes[index];
    if (byte === 0x7b) return true;
    if (byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d) continue;
    if (index === 0 && byte === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
      index += 2;
      continue;
    }
    return false;
  }
  return false;
}

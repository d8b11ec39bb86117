import type { RawMessage } from '../core/frame.ts';
import type { PayloadMetadata } from './frame-metadata.ts';
import { parseTimestamp } from './json-envelope.ts';

/** Devices put `id` and `ts` first; a frame is not parsed in full just to be shed, so only its head is read. */
const HEAD_BYTES = 512;
const ID = /"id"\s*:\s*(?:"((?:[^"\\]|\\.){1,256})"|(\d{1,16})[,}\s])/;
const TS = /"ts"\s*:\s*(?:"([^"]{1,40})"|(\d{1,16}(?:\.\d+)?))/;

/**
 * The id and capture time a JSON envelope carries, read from the head of the payload without parsing it, for a
 * frame settled before it is decoded (shed at arrival or while waiting): its result then keeps the device's id and
 * time, so a point stays idempotent across redeliveries and can be found by the id the device sent. Undefined when
 * the payload is not a JSON object or says neither in its head.
 */
export function peekEnvelope(message: RawMessage): PayloadMetadata | undefined {
  if (message.payload.kind !== 'bytes') return undefined;
  const { bytes } = message.payload;
  let start = 0;
  while (start < bytes.length && (bytes[start] === 0x20 || bytes[start] === 0x0a || bytes[start] === 0x0d || bytes[start] === 0x09)) start += 1;
  if (bytes[start] !== 0x7b) return undefined; // '{'
  const head = bytes.toString('utf8', start, Math.min(bytes.length, start + HEAD_BYTES));
  const metadata: PayloadMetadata = {};
  const id = ID.exec(head);
  if (id !== null) {
    const raw = id[1] ?? id[2];
    if (raw !== undefined) {
      try {
        metadata.id = id[1] === undefined ? raw : (JSON.parse(`"${raw}"`) as string);
      } catch {
        // A malformed escape: no id, as if the head said none.
      }
    }
  }
  const ts = TS.exec(head);
  if (ts !== null) {
    try {
      metadata.captureTs = parseTimestamp(ts[1] ?? Number(ts[2]));
    } catch {
      // Not a usable time: the receive time stands in, as for a frame that sent none.
    }
  }
  return metadata.id === undefined && metadata.captureTs === undefined ? undefined : metadata;
}

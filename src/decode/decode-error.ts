import { EdgekeError } from '../errors.ts';
import type { PayloadMetadata } from './frame-metadata.ts';

/**
 * Why a payload could not become a Frame. Stable strings: they end up as the `reason` of an `error` outcome in
 * InfluxDB and in metrics labels, so only add to this list.
 */
export const DECODE_REASONS = [
  'payload-too-large',
  'wrong-payload-kind',
  'bad-json',
  'missing-field',
  'bad-field-type',
  'bad-base64',
  'bad-image',
  'wrong-shape',
  'non-finite',
  'internal',
  'image-too-large',
] as const;

export type DecodeReason = (typeof DECODE_REASONS)[number];

/** A payload rejected before inference. Never retryable; the message never contains payload bytes. */
export class DecodeError extends EdgekeError {
  /** What the payload's JSON envelope said about itself (id, ts, label) when it was read before the rejection. */
  envelope: PayloadMetadata | undefined;

  constructor(
    readonly reason: DecodeReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('EDGEKE_DECODE', `${reason}: ${message}`, false, options);
  }
}

/** Runs `decode` and, when it rejects the payload, keeps the envelope's id, ts and label on the DecodeError. */
export async function keepingEnvelope<T>(envelope: PayloadMetadata | undefined, decode: () => T | Promise<T>): Promise<T> {
  try {
    return await decode();
  } catch (error) {
    if (error instanceof DecodeError && envelope !== undefined) error.envelope ??= metadataOf(envelope);
    throw error;
  }
}

/** Only the metadata fields (an envelope also carries its parsed body, which must not be held on to). */
export function metadataOf(envelope: PayloadMetadata): PayloadMetadata {
  const metadata: PayloadMetadata = {};
  if (envelope.id !== undefined) metadata.id = envelope.id;
  if (envelope.captureTs !== undefined) metadata.captureTs = envelope.captureTs;
  if (envelope.label !== undefined) metadata.label = envelope.label;
  return metadata;
}

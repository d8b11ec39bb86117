import { EdgekeError } from '../errors.ts';

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
  constructor(
    readonly reason: DecodeReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('EDGEKE_DECODE', `${reason}: ${message}`, false, options);
  }
}

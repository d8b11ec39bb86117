import { EdgekeError } from '../errors.ts';

/** A source could not reach or use its transport; the source keeps retrying on its own when `retryable`. */
export class SourceError extends EdgekeError {
  constructor(code: string, message: string, retryable: boolean, options?: { cause?: unknown }) {
    super(code, message, retryable, options);
  }
}

/** The broker or server refused us in a way retrying will not fix (bad credentials, not authorised, bad topic). */
export function sourceRefused(message: string, cause?: unknown): SourceError {
  return new SourceError('EDGEKE_SOURCE_REFUSED', message, false, { cause });
}

/** The connection dropped or could not be opened; reconnection is under way. */
export function sourceUnavailable(message: string, cause?: unknown): SourceError {
  return new SourceError('EDGEKE_SOURCE_UNAVAILABLE', message, true, { cause });
}

import { DecodeError, metadataOf } from './decode-error.ts';

/**
 * The JSON envelope devices send: `{"id", "ts", "image": "<base64>", "label"?}` or `{"id", "ts", "values": [...],
 * "label"?}`. Parsed and type-checked here; the payload field itself is checked by the decoder that needs it.
 */
export interface JsonEnvelope {
  id?: string;
  /** Capture time from `ts` (ms since epoch), when present. */
  captureTs?: number;
  label?: number;
  body: Record<string, unknown>;
}

const MAX_ID_LENGTH = 256;
/** 2000-01-01 and 2200-01-01: a ts outside is not a ms epoch (seconds, microseconds or garbage). */
const MIN_TS_MS = 946_684_800_000;
const MAX_TS_MS = 7_258_118_400_000;

export function parseJsonEnvelope(bytes: Buffer, classes: readonly string[] | undefined): JsonEnvelope {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new DecodeError('bad-json', 'payload is not valid JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new DecodeError('bad-json', 'expected a JSON object {"id", "ts", ...}');
  }
  const body = parsed as Record<string, unknown>;
  const envelope: JsonEnvelope = { body };
  try {
    if (body.id !== undefined && body.id !== null) envelope.id = parseId(body.id);
    if (body.ts !== undefined && body.ts !== null) envelope.captureTs = parseTimestamp(body.ts);
    if (body.label !== undefined && body.label !== null) envelope.label = parseLabel(body.label, classes);
  } catch (error) {
    // A bad field after a good id (or ts): the rejection still names the frame the device sent.
    if (error instanceof DecodeError) error.envelope = metadataOf(envelope);
    throw error;
  }
  return envelope;
}

function parseId(value: unknown): string {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ID_LENGTH) {
    throw new DecodeError('bad-field-type', `"id" must be a non-empty string of at most ${MAX_ID_LENGTH} characters or an integer`);
  }
  return value;
}

/** `ts`: ms since epoch (number or numeric string) or an ISO 8601 string. */
export function parseTimestamp(value: unknown): number {
  let ms: number;
  if (typeof value === 'number') ms = value;
  else if (typeof value === 'string' && /^\d+(\.\d+)?$/.test(value)) ms = Number(value);
  else if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(value)) ms = Date.parse(value);
  else throw new DecodeError('bad-field-type', '"ts" must be ms since epoch or an ISO 8601 date-time');
  if (!Number.isFinite(ms) || ms < MIN_TS_MS || ms > MAX_TS_MS) {
    throw new DecodeError('bad-field-type', '"ts" must be a date-time between 2000 and 2200 (ms since epoch)');
  }
  return ms;
}

function parseLabel(value: unknown, classes: readonly string[] | undefined): number {
  if (typeof value === 'string' && classes !== undefined) {
    const index = classes.indexOf(value);
    if (index !== -1) return index;
    throw new DecodeError('bad-field-type', '"label" is not one of the model\'s class names');
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || (classes !== undefined && value >= classes.length)) {
    throw new DecodeError('bad-field-type', `"label" must be a class index${classes === undefined ? '' : ` 0..${classes.length - 1}`}`);
  }
  return value;
}

import { InvalidPointError } from './sink-errors.ts';

/**
 * One InfluxDB point as the sink buffers it: plain JSON (it is also what spill segments store). The timestamp is a
 * decimal string of nanoseconds since epoch, beyond Number's exact range.
 */
export interface InfluxPoint {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, string | number | boolean>;
  timestamp: string;
}

/** InfluxDB 1.x rejects string field values over 64 KiB and the whole batch with them. */
const MAX_STRING_FIELD_BYTES = 64 * 1024 - 1;

/**
 * Line protocol cannot carry every tag value: the `influx` package escapes `,`, `=` and space, but a newline ends
 * the line and a trailing backslash escapes the separator after it, and an empty value is a syntax error. Any of
 * these would make InfluxDB reject the whole batch, so such points are refused up front.
 */
export function checkTagValue(name: string, value: string): void {
  if (value === '') throw new InvalidPointError(`tag ${name} is empty`);
  if (/[\n\r]/.test(value)) throw new InvalidPointError(`tag ${name} contains a line break`);
  if (value.endsWith('\\')) throw new InvalidPointError(`tag ${name} ends with a backslash`);
}

/** Checks a point before it enters the buffer, so one bad point never fails a batch. */
export function checkPoint(point: InfluxPoint): void {
  // Checked for every frame's point: plain key loops, no arrays of entries.
  const { tags, fields } = point;
  for (const name in tags) checkTagValue(name, tags[name] as string);
  let fieldCount = 0;
  for (const name in fields) {
    fieldCount += 1;
    const value = fields[name];
    if (typeof value === 'number' && !Number.isFinite(value)) throw new InvalidPointError(`field ${name} is not finite`);
    // A UTF-16 unit is at most 3 UTF-8 bytes: only a long string needs counting.
    if (typeof value === 'string' && value.length * 3 > MAX_STRING_FIELD_BYTES && Buffer.byteLength(value, 'utf8') > MAX_STRING_FIELD_BYTES) {
      throw new InvalidPointError(`field ${name} is longer than 64 KiB`);
    }
  }
  if (fieldCount === 0) throw new InvalidPointError('a point needs at least one field');
}

const NS_PER_MS = 1_000_000n;

/**
 * Nanosecond timestamp captureTs (ms) · 10⁶ + (hash(id) mod 10⁶) (docs/telemetry.md): deterministic per frame, so a
 * retried write overwrites itself, and two frames captured in the same millisecond do not collide (unless their
 * ids hash alike, one in a million).
 */
export function frameTimestampNs(captureTs: number, id: string): string {
  const ms = Math.floor(captureTs);
  const withinMs = fnv1a32(id) % 1_000_000;
  // The same digits without BigInt arithmetic (a point is written for every frame): ms, then 6 digits within it.
  if (ms > 0 && Number.isSafeInteger(ms)) return `${ms}${String(withinMs).padStart(6, '0')}`;
  return (BigInt(ms) * NS_PER_MS + BigInt(withinMs)).toString();
}

/** Timestamp of an instant without an id (flow_stats interval ends). */
export function msToNs(ms: number): string {
  return (BigInt(Math.floor(ms)) * NS_PER_MS).toString();
}

/** FNV-1a, 32 bits, over the UTF-8 bytes: small, stable across platforms and versions. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  // Frame ids are ASCII as a rule: their UTF-8 bytes are their code units, hashed without encoding them first.
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0x80) return fnv1a32Utf8(text);
    hash ^= unit;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

function fnv1a32Utf8(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

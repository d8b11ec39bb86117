import { FLOW_STATS_FIELD_TYPES, FLOW_STATS_MEASUREMENT } from './flow-stats.ts';
import { INFERENCE_FIELD_TYPES, INFERENCE_MEASUREMENT } from './inference-point.ts';
import type { InfluxPoint } from './influx-point.ts';

const FIELD_TYPES: Record<string, Record<string, string>> = {
  [INFERENCE_MEASUREMENT]: INFERENCE_FIELD_TYPES,
  [FLOW_STATS_MEASUREMENT]: FLOW_STATS_FIELD_TYPES,
};

// InfluxDB 1.x unescapes only the separators in names and tag values: a backslash stays as it is (a trailing one
// would escape the separator after it, so checkTagValue refuses it). Most names need no escaping: tested first, so
// the common case allocates nothing (a point is written for every frame).
const MEASUREMENT_SPECIAL = /[, ]/;
const KEY_SPECIAL = /[,= ]/;
const escapeMeasurement = (text: string): string => (MEASUREMENT_SPECIAL.test(text) ? text.replace(/[, ]/g, (c) => `\\${c}`) : text);
const escapeKey = (text: string): string => (KEY_SPECIAL.test(text) ? text.replace(/[,= ]/g, (c) => `\\${c}`) : text);
// A string field may hold a line break: InfluxDB's HTTP API takes it inside the quotes.
const escapeString = (text: string): string => `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

function fieldValue(types: Record<string, string> | undefined, name: string, value: string | number | boolean): string {
  if (typeof value === 'string') return escapeString(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  return types?.[name] === 'integer' ? `${Math.round(value)}i` : String(value);
}

/**
 * One point as an InfluxDB 1.x line-protocol line (nanosecond timestamp); tags sorted by key, as InfluxDB prefers.
 * Written for every frame, shed ones too: tags already in key order (as the service's points build them) are not
 * sorted again, and nothing is collected into arrays on the way.
 */
export function lineProtocol(point: InfluxPoint): string {
  const types = FIELD_TYPES[point.measurement];
  let line = escapeMeasurement(point.measurement);
  const { tags, fields } = point;
  if (tagsInKeyOrder(tags)) {
    for (const key in tags) line += `,${escapeKey(key)}=${escapeKey(tags[key] as string)}`;
  } else {
    for (const key of Object.keys(tags).sort()) line += `,${escapeKey(key)}=${escapeKey(tags[key] as string)}`;
  }
  let separator = ' ';
  for (const key in fields) {
    line += `${separator}${escapeKey(key)}=${fieldValue(types, key, fields[key] as string | number | boolean)}`;
    separator = ',';
  }
  return `${line} ${point.timestamp}`;
}

function tagsInKeyOrder(tags: InfluxPoint['tags']): boolean {
  let previous = '';
  for (const key in tags) {
    if (key < previous) return false;
    previous = key;
  }
  return true;
}

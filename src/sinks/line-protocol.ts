import { FLOW_STATS_FIELD_TYPES, FLOW_STATS_MEASUREMENT } from './flow-stats.ts';
import { INFERENCE_FIELD_TYPES, INFERENCE_MEASUREMENT } from './inference-point.ts';
import type { InfluxPoint } from './influx-point.ts';

const FIELD_TYPES: Record<string, Record<string, string>> = {
  [INFERENCE_MEASUREMENT]: INFERENCE_FIELD_TYPES,
  [FLOW_STATS_MEASUREMENT]: FLOW_STATS_FIELD_TYPES,
};

// InfluxDB 1.x unescapes only the separators in names and tag values: a backslash stays as it is (a trailing one
// would escape the separator after it, so checkTagValue refuses it).
const escapeMeasurement = (text: string): string => text.replace(/[, ]/g, (c) => `\\${c}`);
const escapeKey = (text: string): string => text.replace(/[,= ]/g, (c) => `\\${c}`);
// A string field may hold a line break: InfluxDB's HTTP API takes it inside the quotes.
const escapeString = (text: string): string => `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

function fieldValue(measurement: string, name: string, value: string | number | boolean): string {
  if (typeof value === 'string') return escapeString(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  return FIELD_TYPES[measurement]?.[name] === 'integer' ? `${Math.round(value)}i` : String(value);
}

/** One point as an InfluxDB 1.x line-protocol line (nanosecond timestamp). */
export function lineProtocol(point: InfluxPoint): string {
  const tags = Object.entries(point.tags)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([key, value]) => `,${escapeKey(key)}=${escapeKey(value)}`)
    .join('');
  const fields = Object.entries(point.fields)
    .map(([key, value]) => `${escapeKey(key)}=${fieldValue(point.measurement, key, value)}`)
    .join(',');
  return `${escapeMeasurement(point.measurement)}${tags} ${fields} ${point.timestamp}`;
}

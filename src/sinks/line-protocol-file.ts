import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FLOW_STATS_FIELD_TYPES, FLOW_STATS_MEASUREMENT } from './flow-stats.ts';
import { INFERENCE_FIELD_TYPES, INFERENCE_MEASUREMENT } from './inference-point.ts';
import type { InfluxClient } from './influx-client.ts';
import type { InfluxPoint } from './influx-point.ts';

const FIELD_TYPES: Record<string, Record<string, string>> = {
  [INFERENCE_MEASUREMENT]: INFERENCE_FIELD_TYPES,
  [FLOW_STATS_MEASUREMENT]: FLOW_STATS_FIELD_TYPES,
};

const escapeMeasurement = (text: string): string => text.replace(/[\\, ]/g, (c) => `\\${c}`);
const escapeKey = (text: string): string => text.replace(/[\\,= ]/g, (c) => `\\${c}`);
const escapeString = (text: string): string => `"${text.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\n/g, '\\n')}"`;

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

/**
 * An InfluxClient that appends to a file `influx -import -path=FILE -precision=ns` can load later: the demo's
 * telemetry when no InfluxDB is reachable. The header creates the database and makes the retention policy its default.
 */
export function lineProtocolFileClient(file: string): InfluxClient {
  let header: Promise<void> | undefined;
  return {
    ensureTarget(target) {
      header ??= (async () => {
        await mkdir(dirname(file), { recursive: true });
        const ddl = `# DDL\nCREATE DATABASE ${target.database}\nCREATE RETENTION POLICY ${target.retentionPolicy.name} ON ${target.database} DURATION ${target.retentionPolicy.duration} REPLICATION 1 DEFAULT\n`;
        await writeFile(file, `${ddl}# DML\n# CONTEXT-DATABASE: ${target.database}\n# CONTEXT-RETENTION-POLICY: ${target.retentionPolicy.name}\n`);
      })();
      return header;
    },
    async writePoints(points) {
      await header;
      await appendFile(file, points.map((point) => `${lineProtocol(point)}\n`).join(''));
    },
  };
}

/**
 * Writes telemetry points into a real InfluxDB 1.x over its HTTP API, as line protocol with nanosecond timestamps,
 * and runs InfluxQL. Kept free of any generator so a test that records a real pipeline run can load (or query) its
 * own points the same way.
 */

/** number → float field, bigint → integer field (`42i`), as the schema in docs/telemetry.md types them. */
export type FieldValue = number | bigint | string | boolean;

export interface TelemetryPoint {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, FieldValue>;
  /** Nanoseconds since the epoch. */
  timestampNs: bigint;
}

function escapeKey(text: string): string {
  return text.replace(/[,= ]/g, (char) => `\\${char}`);
}

function formatField(value: FieldValue): string {
  switch (typeof value) {
    case 'bigint':
      return `${value}i`;
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return `"${value.replace(/["\\]/g, (char) => `\\${char}`)}"`;
    default:
      if (!Number.isFinite(value)) throw new Error(`line protocol cannot carry ${value}`);
      return String(value);
  }
}

export function toLineProtocol(point: TelemetryPoint): string {
  const tags = Object.entries(point.tags)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([key, value]) => `,${escapeKey(key)}=${escapeKey(value)}`)
    .join('');
  const fields = Object.entries(point.fields)
    .map(([key, value]) => `${escapeKey(key)}=${formatField(value)}`)
    .join(',');
  return `${point.measurement.replace(/[, ]/g, (char) => `\\${char}`)}${tags} ${fields} ${point.timestampNs}`;
}

export interface InfluxQlSeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

export interface InfluxQlResult {
  series?: InfluxQlSeries[];
  error?: string;
}

/** Runs one or more InfluxQL statements; times come back as ms since the epoch. Throws on HTTP or parse errors. */
export async function influxQuery(influxUrl: string, database: string, query: string): Promise<InfluxQlResult[]> {
  const url = new URL('/query', influxUrl);
  url.searchParams.set('db', database);
  url.searchParams.set('epoch', 'ms');
  url.searchParams.set('q', query);
  // POST: CREATE/DROP need it, and long dashboard queries stay out of the URL.
  const response = await fetch(url, { method: 'POST' });
  const body = (await response.json()) as { results?: InfluxQlResult[]; error?: string };
  if (!response.ok || body.error !== undefined) throw new Error(`InfluxQL failed (${response.status}): ${body.error ?? ''}\n${query}`);
  return body.results ?? [];
}

/** Creates `database` (no-op when it exists) and writes the points in batches; resolves when InfluxDB has them. */
export async function loadTelemetry(influxUrl: string, database: string, points: readonly TelemetryPoint[], batchSize = 5_000): Promise<void> {
  await influxQuery(influxUrl, database, `CREATE DATABASE "${database}"`);
  for (let start = 0; start < points.length; start += batchSize) {
    const body = points.slice(start, start + batchSize).map(toLineProtocol).join('\n');
    const url = new URL('/write', influxUrl);
    url.searchParams.set('db', database);
    url.searchParams.set('precision', 'ns');
    const response = await fetch(url, { method: 'POST', body });
    if (response.status !== 204) throw new Error(`write to ${database} failed (${response.status}): ${await response.text()}`);
  }
}

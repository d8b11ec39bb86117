import { FieldType, InfluxDB, type IPoint } from 'influx';
import type { IBackoffStrategy } from 'influx/lib/src/backoff/backoff.js';
import { FLOW_STATS_FIELD_TYPES, FLOW_STATS_MEASUREMENT, FLOW_STATS_TAGS } from './flow-stats.ts';
import { INFERENCE_FIELD_TYPES, INFERENCE_MEASUREMENT, INFERENCE_TAGS } from './inference-point.ts';
import type { InfluxPoint } from './influx-point.ts';
import { InfluxWriteError } from './sink-errors.ts';

/** Where points go: database and retention policy (both created if missing). */
export interface InfluxTarget {
  database: string;
  retentionPolicy: { name: string; duration: string };
}

/** The few InfluxDB operations the sink needs; unit tests pass fakes, production uses createInfluxClient. */
export interface InfluxClient {
  /** Creates the database and retention policy when missing. Rejects with InfluxWriteError. */
  ensureTarget(target: InfluxTarget): Promise<void>;
  /** Writes one batch. Rejects with InfluxWriteError (retryable or not). */
  writePoints(points: readonly InfluxPoint[], target: InfluxTarget): Promise<void>;
}

export interface InfluxConnection {
  url: string;
  username?: string;
  password?: string;
  /** Per-request timeout; a stuck InfluxDB counts as down after it. Default 10 s. */
  requestTimeoutMs?: number;
}

export type InfluxClientFactory = (connection: InfluxConnection, database: string) => InfluxClient;

/** The `influx` package's own host backoff would fail requests without trying; the writer does its own retries. */
const NO_HOST_BACKOFF: IBackoffStrategy = { getDelay: () => 0, next: () => NO_HOST_BACKOFF, reset: () => NO_HOST_BACKOFF };

const FIELD_TYPE = { string: FieldType.STRING, integer: FieldType.INTEGER, float: FieldType.FLOAT, boolean: FieldType.BOOLEAN } as const;

function fieldTypes(types: Record<string, keyof typeof FIELD_TYPE>): Record<string, FieldType> {
  return Object.fromEntries(Object.entries(types).map(([name, type]) => [name, FIELD_TYPE[type]]));
}

/** InfluxDB 1.x through the `influx` package, which escapes line protocol and types fields by schema. */
export const createInfluxClient: InfluxClientFactory = (connection, database) => {
  const url = new URL(connection.url);
  const influx = new InfluxDB({
    host: url.hostname,
    port: url.port === '' ? (url.protocol === 'https:' ? 443 : 8086) : Number(url.port),
    protocol: url.protocol === 'https:' ? 'https' : 'http',
    path: url.pathname === '/' ? '' : url.pathname,
    username: connection.username,
    password: connection.password,
    database,
    pool: { maxRetries: 0, backoff: NO_HOST_BACKOFF, requestTimeout: connection.requestTimeoutMs ?? 10_000 },
    schema: [
      { measurement: INFERENCE_MEASUREMENT, database, tags: [...INFERENCE_TAGS], fields: fieldTypes(INFERENCE_FIELD_TYPES) },
      { measurement: FLOW_STATS_MEASUREMENT, database, tags: [...FLOW_STATS_TAGS], fields: fieldTypes(FLOW_STATS_FIELD_TYPES) },
    ],
  });

  return {
    async ensureTarget(target) {
      try {
        await influx.createDatabase(target.database);
        const policies = await influx.showRetentionPolicies(target.database);
        if (!policies.some((policy) => policy.name === target.retentionPolicy.name)) {
          // Made the default only where nobody chose one (autogen still is), so plain `FROM "inference"` queries
          // (Grafana's, anyone's) read our points, while an operator's own default policy is left alone.
          const untouched = policies.every((policy) => !policy.default || policy.name === 'autogen');
          await influx.createRetentionPolicy(target.retentionPolicy.name, {
            database: target.database,
            duration: target.retentionPolicy.duration,
            replication: 1,
            isDefault: untouched,
          });
        }
      } catch (error) {
        throw classify(error, 'creating the database');
      }
    },

    async writePoints(points, target) {
      let pending: Promise<void>;
      try {
        const batch: IPoint[] = points.map((point) => ({ measurement: point.measurement, tags: point.tags, fields: point.fields, timestamp: point.timestamp }));
        pending = influx.writePoints(batch, { database: target.database, retentionPolicy: target.retentionPolicy.name, precision: 'n' });
      } catch (error) {
        // Thrown before any request: a point the schema refuses. Retrying cannot help.
        throw new InfluxWriteError(`batch refused by the client schema: ${shortMessage(error)}`, false, undefined, { cause: error });
      }
      try {
        await pending;
      } catch (error) {
        throw classify(error, 'writing');
      }
    },
  };
};

const RETRYABLE_STATUS = new Set([408, 429]);

/** 4xx (but 408/429): the request is wrong and stays wrong. Everything else (network, timeout, 5xx): try again. */
export function classify(error: unknown, doing: string): InfluxWriteError {
  if (error instanceof InfluxWriteError) return error;
  const status = (error as { res?: { statusCode?: unknown } } | null)?.res?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500 && !RETRYABLE_STATUS.has(status)) {
    // InfluxDB 1.x writes the good points of a batch and reports the others as "partial write: ... dropped=N".
    const partial = /partial write[\s\S]*?dropped=(\d+)/.exec(error instanceof Error ? error.message : '');
    const droppedPoints = partial?.[1] === undefined ? undefined : Number(partial[1]);
    return new InfluxWriteError(`InfluxDB refused ${doing} (HTTP ${status}): ${shortMessage(error)}`, false, status, { cause: error, droppedPoints });
  }
  return new InfluxWriteError(`InfluxDB unavailable while ${doing}: ${shortMessage(error)}`, true, typeof status === 'number' ? status : undefined, { cause: error });
}

/** InfluxDB echoes the offending line in its errors: keep log lines short. */
function shortMessage(error: unknown): string {
  const text = error instanceof Error ? `${(error as { code?: string }).code ?? ''} ${error.message}`.trim() : String(error);
  const firstLine = text.split('\n')[0] ?? '';
  return firstLine.length > 160 ? `${firstLine.slice(0, 160)}...` : firstLine;
}

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
  /** Writes one batch of line-protocol lines (nanosecond timestamps). Rejects with InfluxWriteError. */
  writeLines(lines: readonly string[], target: InfluxTarget): Promise<void>;
}

export interface InfluxConnection {
  url: string;
  username?: string;
  password?: string;
  /** Per-request timeout; a stuck InfluxDB counts as down after it. Default 10 s. */
  requestTimeoutMs?: number;
}

export type InfluxClientFactory = (connection: InfluxConnection, database: string) => InfluxClient;

/** An HTTP answer that was not a success, as `classify` reads it. */
export class InfluxHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * InfluxDB 1.x over its HTTP API with fetch. Credentials travel in an `Authorization: Basic` header, never in the
 * URL (the `influx` package put them in the query string, where proxies and access logs keep them).
 */
export const createInfluxClient: InfluxClientFactory = (connection) => {
  const base = connection.url.replace(/\/+$/, '');
  const headers: Record<string, string> = {};
  if (connection.username !== undefined) {
    headers.authorization = `Basic ${Buffer.from(`${connection.username}:${connection.password ?? ''}`).toString('base64')}`;
  }
  const timeoutMs = connection.requestTimeoutMs ?? 10_000;

  async function request(path: string, body: string, contentType: string): Promise<string> {
    const response = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { ...headers, 'content-type': contentType },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    if (!response.ok) throw new InfluxHttpError(response.status, errorText(text) ?? response.statusText);
    return text;
  }

  /** Runs InfluxQL; InfluxDB answers 200 with a per-statement error for some refusals, turned into an error here. */
  async function query(q: string): Promise<QueryResult> {
    const text = await request('/query', new URLSearchParams({ q }).toString(), 'application/x-www-form-urlencoded');
    const parsed = JSON.parse(text) as { results?: QueryResult[]; error?: string };
    const result = parsed.results?.[0] ?? {};
    const refusal = parsed.error ?? result.error;
    if (refusal !== undefined) throw new InfluxHttpError(/authoriz/i.test(refusal) ? 403 : 400, refusal);
    return result;
  }

  return {
    async ensureTarget(target) {
      try {
        await query(`CREATE DATABASE ${identifier(target.database)}`);
        const policies = await query(`SHOW RETENTION POLICIES ON ${identifier(target.database)}`);
        const series = policies.series?.[0];
        const nameAt = series?.columns.indexOf('name') ?? -1;
        const defaultAt = series?.columns.indexOf('default') ?? -1;
        const rows = series?.values ?? [];
        if (!rows.some((row) => row[nameAt] === target.retentionPolicy.name)) {
          // Made the default only where nobody chose one (autogen still is), so plain `FROM "inference"` queries
          // (Grafana's, anyone's) read our points, while an operator's own default policy is left alone.
          const untouched = rows.every((row) => row[defaultAt] !== true || row[nameAt] === 'autogen');
          await query(
            `CREATE RETENTION POLICY ${identifier(target.retentionPolicy.name)} ON ${identifier(target.database)} DURATION ${target.retentionPolicy.duration} REPLICATION 1${untouched ? ' DEFAULT' : ''}`,
          );
        }
      } catch (error) {
        throw classify(error, 'creating the database');
      }
    },

    async writeLines(lines, target) {
      const params = new URLSearchParams({ db: target.database, rp: target.retentionPolicy.name, precision: 'ns' });
      try {
        await request(`/write?${params.toString()}`, lines.join('\n'), 'text/plain; charset=utf-8');
      } catch (error) {
        throw classify(error, 'writing');
      }
    },
  };
};

interface QueryResult {
  error?: string;
  series?: { columns: string[]; values?: unknown[][] }[];
}

/** An InfluxQL identifier, double-quoted. */
function identifier(name: string): string {
  return `"${name.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

function errorText(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    return typeof parsed.error === 'string' ? parsed.error : undefined;
  } catch {
    return body === '' ? undefined : body;
  }
}

/**
 * Retried: network errors, timeouts, 5xx, 408, 429, and 401/403/404: credentials rotated, permissions changed or the
 * database dropped are fixed by an operator while the points wait (the writer sets the database up again first).
 * Not retried: other 4xx, where the batch itself is wrong and stays wrong.
 */
const RETRYABLE_STATUS = new Set([401, 403, 404, 408, 429]);

export function classify(error: unknown, doing: string): InfluxWriteError {
  if (error instanceof InfluxWriteError) return error;
  const status = error instanceof InfluxHttpError ? error.status : undefined;
  if (status !== undefined && status >= 400 && status < 500 && !RETRYABLE_STATUS.has(status)) {
    // InfluxDB 1.x writes the good points of a batch and reports the others as "partial write: ... dropped=N".
    const partial = /partial write[\s\S]*?dropped=(\d+)/.exec(error instanceof Error ? error.message : '');
    const droppedPoints = partial?.[1] === undefined ? undefined : Number(partial[1]);
    return new InfluxWriteError(`InfluxDB refused ${doing} (HTTP ${status}): ${shortMessage(error)}`, false, status, { cause: error, droppedPoints });
  }
  const what = status === 401 || status === 403 ? 'refused the credentials' : status === 404 ? 'has no such database' : 'unavailable';
  return new InfluxWriteError(`InfluxDB ${what} while ${doing}${status === undefined ? '' : ` (HTTP ${status})`}: ${shortMessage(error)}`, true, status, { cause: error });
}

/** InfluxDB echoes the offending line in its errors: keep log lines short. */
function shortMessage(error: unknown): string {
  const cause = error instanceof Error ? (error.cause as { code?: string } | undefined) : undefined;
  const code = (error as { code?: string } | null)?.code ?? cause?.code ?? '';
  const text = error instanceof Error ? `${code} ${error.message}`.trim() : String(error);
  const firstLine = text.split('\n')[0] ?? '';
  return firstLine.length > 160 ? `${firstLine.slice(0, 160)}...` : firstLine;
}

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../errors.ts';
import type { Logger } from './logger.ts';
import type { Readiness } from './readiness.ts';
import type { StatusSnapshot } from './status-board.ts';
import { STATUS_PAGE_HTML } from './status-page.ts';

/**
 * The process's small HTTP face for operators and orchestrators:
 * - `GET /metrics`: Prometheus text from the process's registry;
 * - `GET /healthz`: 200 while the process is alive and its event loop turns (Docker HEALTHCHECK, liveness probes);
 * - `GET /readyz`: 200 when every registered readiness check passes, else 503; the JSON body lists failing checks,
 *   every check, and notices (problems that do not block readiness, such as a flow file rejected on hot reload);
 * - `GET /` and `GET /status.json`: the live status page and the per-flow, per-second data it draws (when a status
 *   source is given).
 *
 * It binds 127.0.0.1 by default, so nothing outside the machine sees it unless asked: in a container set
 * EDGEKE_HTTP_HOST=0.0.0.0 so Prometheus in another container can scrape it.
 */

export const DEFAULT_HTTP_PORT = 9464;
export const DEFAULT_HTTP_HOST = '127.0.0.1';

/** Anything that can render Prometheus text (EdgekeMetrics does). */
export interface MetricsSource {
  exposition(): Promise<{ contentType: string; body: string }>;
}

export interface TelemetryServerOptions {
  /** 0 picks a free port (tests); read the chosen one from `port` on the running server. */
  port: number;
  host?: string;
  metrics: MetricsSource;
  readiness: Readiness;
  /** The per-flow history behind `/` and `/status.json`; absent: those answer 404. */
  status?: { snapshot(seconds?: number): StatusSnapshot };
  logger?: Logger;
}

export interface TelemetryServer {
  readonly port: number;
  readonly host: string;
  /** e.g. http://127.0.0.1:9464 */
  readonly url: string;
  close(): Promise<void>;
}

/** Reads EDGEKE_HTTP_PORT and EDGEKE_HTTP_HOST (defaults 9464 and 127.0.0.1); a bad port is a ConfigError. */
export function telemetryHttpAddressFromEnv(env: NodeJS.ProcessEnv = process.env): { port: number; host: string } {
  const rawPort = env.EDGEKE_HTTP_PORT?.trim();
  const port = rawPort === undefined || rawPort === '' ? DEFAULT_HTTP_PORT : Number(rawPort);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new ConfigError(`EDGEKE_HTTP_PORT: expected a TCP port 0..65535 (0 = any free port), got '${rawPort}'`);
  }
  const host = env.EDGEKE_HTTP_HOST?.trim() || DEFAULT_HTTP_HOST;
  return { port, host };
}

function send(response: ServerResponse, status: number, contentType: string, body: string, headOnly: boolean): void {
  response.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  response.end(headOnly ? undefined : body);
}

export async function startTelemetryServer(options: TelemetryServerOptions): Promise<TelemetryServer> {
  const host = options.host ?? DEFAULT_HTTP_HOST;
  const { metrics, readiness, logger } = options;

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const method = request.method ?? 'GET';
    const headOnly = method === 'HEAD';
    if (method !== 'GET' && !headOnly) {
      response.setHeader('allow', 'GET, HEAD');
      send(response, 405, 'text/plain; charset=utf-8', 'method not allowed\n', false);
      return;
    }
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    switch (path) {
      case '/':
        if (options.status === undefined) break;
        send(response, 200, 'text/html; charset=utf-8', STATUS_PAGE_HTML, headOnly);
        return;
      case '/status.json': {
        if (options.status === undefined) break;
        const seconds = Number(new URL(request.url ?? '/', 'http://localhost').searchParams.get('seconds') ?? 120);
        const snapshot = options.status.snapshot(Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 3_600) : 120);
        send(response, 200, 'application/json; charset=utf-8', JSON.stringify(snapshot), headOnly);
        return;
      }
      case '/metrics': {
        const { contentType, body } = await metrics.exposition();
        send(response, 200, contentType, body, headOnly);
        return;
      }
      case '/healthz':
        send(response, 200, 'text/plain; charset=utf-8', 'ok\n', headOnly);
        return;
      case '/readyz': {
        const report = await readiness.evaluate();
        const body = JSON.stringify({ status: report.ready ? 'ready' : 'not ready', failing: report.failing, checks: report.checks, notices: report.notices }) + '\n';
        send(response, report.ready ? 200 : 503, 'application/json; charset=utf-8', body, headOnly);
        return;
      }
    }
    send(response, 404, 'text/plain; charset=utf-8', `not found: try ${options.status === undefined ? '' : '/, /status.json, '}/metrics, /healthz or /readyz\n`, headOnly);
  }

  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      logger?.error({ err: error, path: request.url }, 'telemetry request failed');
      if (!response.headersSent) send(response, 500, 'text/plain; charset=utf-8', 'internal error\n', false);
      else response.destroy();
    });
  });
  // Scrapers keep connections alive; do not let them hold the process open on shutdown.
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  logger?.info({ host: address.address, port: address.port }, 'telemetry http server listening');

  let closing: Promise<void> | undefined;
  return {
    port: address.port,
    host: address.address,
    url: `http://${urlHost}:${address.port}`,
    close: () => {
      // Idempotent: shutdown paths may close twice.
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error === undefined ? resolve() : reject(error)));
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

import { startTelemetryServer, telemetryHttpAddressFromEnv, type TelemetryServer } from './http-server.ts';
import { componentLogger, createLogger, logLevelFromEnv, type Logger } from './logger.ts';
import { EdgekeMetrics, type MetricsOptions } from './metrics.ts';
import { Readiness } from './readiness.ts';
import { StatusBoard } from './status-board.ts';

/**
 * The telemetry of one EdgeKE process in one handle, as `edgeke run` needs it: the root logger, the metrics, the
 * readiness checks and the HTTP server that exposes them. Components receive the parts they use.
 */

export interface TelemetryOptions {
  /** Read for LOG_LEVEL, EDGEKE_HTTP_PORT and EDGEKE_HTTP_HOST; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Default: a new root logger at LOG_LEVEL. */
  logger?: Logger;
  /** Where to serve /, /status.json, /metrics, /healthz, /readyz; default from the env; `false` serves nothing (`edgeke check`, tests). */
  http?: { port: number; host?: string } | false;
  metrics?: MetricsOptions;
}

export interface Telemetry {
  logger: Logger;
  metrics: EdgekeMetrics;
  readiness: Readiness;
  /** Per-flow, per-second history behind the status page (`GET /`, `/status.json`). */
  status: StatusBoard;
  /** Absent when `http: false`. */
  server?: TelemetryServer;
  /** Stops the server, then the metrics; idempotent. */
  close(): Promise<void>;
}

export async function startTelemetry(options: TelemetryOptions = {}): Promise<Telemetry> {
  const env = options.env ?? process.env;
  const logger = options.logger ?? createLogger({ level: logLevelFromEnv(env) });
  const address = options.http ?? telemetryHttpAddressFromEnv(env);
  const metrics = new EdgekeMetrics(options.metrics);
  const readiness = new Readiness();
  const status = new StatusBoard();
  let server: TelemetryServer | undefined;
  if (address !== false) {
    try {
      server = await startTelemetryServer({ ...address, metrics, readiness, status, logger: componentLogger(logger, 'telemetry-http') });
    } catch (error) {
      metrics.close();
      throw error;
    }
  }
  let closing: Promise<void> | undefined;
  return {
    logger,
    metrics,
    readiness,
    status,
    server,
    close() {
      closing ??= (async () => {
        await server?.close();
        metrics.close();
      })();
      return closing;
    },
  };
}

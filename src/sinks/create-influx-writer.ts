import type { Logger } from 'pino';
import { ConfigError } from '../errors.ts';
import type { InfluxSinkConfig } from '../flows/schema.ts';
import { createInfluxClient, type InfluxClientFactory } from './influx-client.ts';
import { InfluxWriter, type FlowStatsSettings } from './influx-writer.ts';
import { SpillStore } from './spill-store.ts';

export interface InfluxWriterDependencies {
  logger: Logger;
  /** Default: the `influx` package; unit tests pass fakes. */
  clientFactory?: InfluxClientFactory;
  /** Model facts and live flow state for flow_stats; without it only inference points are written. */
  stats?: Omit<FlowStatsSettings, 'intervalMs'>;
  /** Per-request timeout: a frozen InfluxDB (half-open connection) counts as down after it. Default 10 s. */
  requestTimeoutMs?: number;
  now?: () => number;
  random?: () => number;
}

/**
 * The InfluxDB sink of one flow, from its `sinks.influx` config: client, spill store (when spillDir is set; segments
 * left by a previous run are replayed) and writer, started. Retries back off up to one flush interval, so a
 * recovered InfluxDB is noticed within that and the buffer drains soon after.
 */
export async function createInfluxWriter(flow: string, config: InfluxSinkConfig, deps: InfluxWriterDependencies): Promise<InfluxWriter> {
  const client = (deps.clientFactory ?? createInfluxClient)({ url: config.url, username: config.username, password: config.password, requestTimeoutMs: deps.requestTimeoutMs }, config.database);
  let spill: SpillStore | undefined;
  if (config.spillDir !== undefined) {
    try {
      spill = await SpillStore.open(config.spillDir, config.spillMaxBytes);
    } catch (error) {
      throw new ConfigError(`flow ${flow}: sinks.influx.spillDir cannot be used (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { cause: error });
    }
  }
  const writer = new InfluxWriter({
    flow,
    target: { database: config.database, retentionPolicy: config.retentionPolicy },
    settings: {
      batchSize: config.batchSize,
      flushIntervalMs: config.flushIntervalMs,
      bufferMaxPoints: config.bufferMaxPoints,
      retryInitialMs: Math.min(100, config.flushIntervalMs),
      retryMaxMs: config.flushIntervalMs,
    },
    client,
    logger: deps.logger,
    spill,
    stats: deps.stats === undefined ? undefined : { ...deps.stats, intervalMs: config.statsIntervalMs },
    now: deps.now,
    random: deps.random,
  });
  writer.start();
  return writer;
}

import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { ConfigError } from '../errors.ts';
import { createInfluxClient, type InfluxClientFactory } from './influx-client.ts';
import { WAL_DEFAULTS, type InfluxSinkConfig } from './influx-sink-config.ts';
import { InfluxWriter, type FlowStatsSettings } from './influx-writer.ts';
import { WalCommitWindow } from './wal-interval.ts';
import type { WalObserver } from './wal-state.ts';
import { WriteAheadLog, type WalRecovery } from './write-ahead-log.ts';

export interface InfluxWriterDependencies {
  logger: Logger;
  /** Default: HTTP with fetch; unit tests pass fakes. */
  clientFactory?: InfluxClientFactory;
  /** The flow's live state (the serving model included) for flow_stats; without it only inference points are written. */
  stats?: Omit<FlowStatsSettings, 'intervalMs'>;
  /** Per-request timeout: a frozen InfluxDB (half-open connection) counts as down after it. Default 10 s. */
  requestTimeoutMs?: number;
  /** Folder of the flows' state; default $EDGEKE_STATE_DIR, else `.edgeke` in the working directory. */
  stateDir?: string;
  /** Told of every group commit of the flow's write-ahead log (metrics). */
  walObserver?: WalObserver;
  /** Told what the log recovered from the previous run, once, before the writer starts (metrics). */
  onWalRecovered?: (recovery: WalRecovery) => void;
  now?: () => number;
  random?: () => number;
}

/** Where a flow's write-ahead log lives: `walDir` (or its old name `spillDir`), else `<state dir>/wal/<flow>`. */
export function walDirectory(flow: string, config: Pick<InfluxSinkConfig, 'walDir' | 'spillDir'>, stateDir?: string): string {
  const configured = config.walDir ?? config.spillDir;
  if (configured !== undefined) return resolve(configured);
  return resolve(stateDir ?? process.env.EDGEKE_STATE_DIR ?? '.edgeke', 'wal', flow);
}

/**
 * The InfluxDB sink of one flow, from its `sinks.influx` config: client, write-ahead log (what a previous run left
 * in it is replayed) and writer, started. Retries back off up to one flush interval, so a recovered InfluxDB is
 * noticed within that and the backlog drains soon after. A log folder that cannot be written stops the flow here,
 * before anything is acknowledged.
 */
export async function createInfluxWriter(flow: string, config: InfluxSinkConfig, deps: InfluxWriterDependencies): Promise<InfluxWriter> {
  const client = (deps.clientFactory ?? createInfluxClient)({ url: config.url, username: config.username, password: config.password, requestTimeoutMs: deps.requestTimeoutMs }, config.database);
  const dir = walDirectory(flow, config, deps.stateDir);
  // Group commits reach the metrics (walObserver) and, per interval, the flow_stats point.
  const walCommits = new WalCommitWindow(deps.walObserver);
  let opened: Awaited<ReturnType<typeof WriteAheadLog.open>>;
  try {
    opened = await WriteAheadLog.open({
      dir,
      flow,
      logger: deps.logger,
      maxBytes: config.walMaxBytes ?? config.spillMaxBytes ?? WAL_DEFAULTS.maxBytes,
      memoryMaxRecords: config.bufferMaxPoints,
      commitIntervalMs: config.walCommitIntervalMs ?? WAL_DEFAULTS.commitIntervalMs,
      observer: walCommits,
    });
  } catch (error) {
    throw new ConfigError(`flow ${flow}: the write-ahead log folder ${dir} cannot be used (${(error as Error).message}); set sinks.influx.walDir to a writable folder of its own`, { cause: error });
  }
  const { log, recovery } = opened;
  deps.onWalRecovered?.(recovery);
  if (recovery.records > 0 || recovery.torn > 0) {
    deps.logger.info({ flow, points: recovery.records, torn: recovery.torn, dir }, 'influx sink: write-ahead log holds points of the previous run; writing them to InfluxDB (a torn last record was never acknowledged)');
  }
  if (recovery.corrupt > 0) {
    deps.logger.error({ flow, points: recovery.corrupt, dir }, 'influx sink: write-ahead log records damaged on disk were skipped');
  }
  const writer = new InfluxWriter({
    flow,
    target: { database: config.database, retentionPolicy: config.retentionPolicy },
    settings: {
      batchSize: config.batchSize,
      flushIntervalMs: config.flushIntervalMs,
      retryInitialMs: Math.min(100, config.flushIntervalMs),
      retryMaxMs: config.flushIntervalMs,
    },
    client,
    logger: deps.logger,
    wal: log,
    recoveredKeys: recovery.keys,
    replayedRecords: recovery.records,
    walCommits,
    stats: deps.stats === undefined ? undefined : { ...deps.stats, intervalMs: config.statsIntervalMs },
    now: deps.now,
    random: deps.random,
  });
  writer.start();
  return writer;
}

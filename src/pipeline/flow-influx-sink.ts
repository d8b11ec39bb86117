import type { Logger } from 'pino';
import type { FlowConfig } from '../flows/schema.ts';
import { createInfluxWriter } from '../sinks/create-influx-writer.ts';
import type { InfluxClientFactory } from '../sinks/influx-client.ts';
import { influxResultSink } from '../sinks/influx-result-sink.ts';
import type { InfluxSinkConfig } from '../sinks/influx-sink-config.ts';
import type { FlowStatsSettings } from '../sinks/influx-writer.ts';
import type { ResultSink } from '../sinks/result-sink.ts';
import type { WalRecovery } from '../sinks/write-ahead-log.ts';
import type { EdgekeMetrics } from '../telemetry/metrics.ts';
import type { Readiness } from '../telemetry/readiness.ts';

export interface FlowInfluxSinkDependencies {
  logger: Logger;
  /** The flow's state for its periodic flow_stats points, the model serving it included (it follows swaps). */
  flowState: FlowStatsSettings['flowState'];
  metrics?: EdgekeMetrics;
  readiness?: Readiness;
  clientFactory?: InfluxClientFactory;
}

/**
 * A flow's InfluxDB sink, wired into the service: its write-ahead log's commits, replays, drops and buffer reach the
 * metrics, and readiness holds while the buffer is above its high-water mark. `cleanups` undo the wiring.
 */
export async function openFlowInfluxSink(
  config: FlowConfig,
  influx: InfluxSinkConfig,
  deps: FlowInfluxSinkDependencies,
): Promise<{ sink: ResultSink; cleanups: (() => void)[] }> {
  const { metrics } = deps;
  const cleanups: (() => void)[] = [];
  const writer = await createInfluxWriter(config.name, influx, {
    logger: deps.logger,
    ...(metrics === undefined
      ? {}
      : {
          walObserver: { committed: (records: number, seconds: number) => metrics.recordWalCommit(config.name, records, seconds) },
          onWalRecovered: (recovery: WalRecovery) => metrics.recordWalReplayed(config.name, recovery.records),
        }),
    ...(deps.clientFactory === undefined ? {} : { clientFactory: deps.clientFactory }),
    stats: { flowState: deps.flowState },
  });
  if (metrics !== undefined) {
    const subscription = writer.drops$.subscribe((drop) => metrics.recordSinkDropped(`influx:${config.name}`, drop.reason, drop.points));
    const sample = (): void => {
      metrics.setSinkBuffer(`influx:${config.name}`, writer.bufferedPoints);
      metrics.setWalState(config.name, writer.walState);
    };
    sample();
    const timer = setInterval(sample, 1_000);
    timer.unref();
    cleanups.push(() => subscription.unsubscribe(), () => clearInterval(timer));
  }
  if (deps.readiness !== undefined) {
    const highWater = Math.floor(influx.bufferMaxPoints * 0.8);
    cleanups.push(
      deps.readiness.register(`${config.name}:influx`, () => ({
        ok: writer.isReady && writer.bufferedPoints < highWater,
        detail: `buffer ${writer.bufferedPoints}/${highWater}`,
      })),
    );
  }
  return { sink: influxResultSink(writer), cleanups };
}

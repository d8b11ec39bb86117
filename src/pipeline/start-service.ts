import type { FrameResult } from '../core/frame.ts';
import type { LoadedFlow } from '../flows/load.ts';
import type { FlowConfig } from '../flows/schema.ts';
import { FlowWatcher } from './flow-watcher.ts';
import { createMqttResultSink } from '../sinks/mqtt-result-sink.ts';
import type { ResultSink } from '../sinks/result-sink.ts';
import { EdgekeService } from './service.ts';
import type { InfluxClientFactory } from '../sinks/influx-client.ts';
import { startTelemetry, type Telemetry, type TelemetryOptions } from '../telemetry/telemetry.ts';

export interface StartServiceOptions {
  /** Watched for hot reload. */
  paths: readonly string[];
  flows: readonly LoadedFlow[];
  watch: boolean;
  telemetry?: TelemetryOptions;
  extraSinks?: (config: FlowConfig) => ResultSink[];
  influxClientFactory?: InfluxClientFactory;
  onResult?: (result: FrameResult) => void;
  /** The true label of a result that does not carry one (the demo's OPC UA flow), for the status page's accuracy. */
  labelOf?: (result: FrameResult) => number | undefined;
}

export interface RunningService {
  service: EdgekeService;
  telemetry: Telemetry;
  /**
   * Stops on SIGTERM/SIGINT (or `stop()`); resolves the exit code: 0 when everything drained and flushed in time.
   * `beforeDrain` runs first (the demo stops its simulators there, so the service drains what they sent).
   */
  untilStopped(drainTimeoutMs: number, beforeDrain?: () => Promise<void>): Promise<number>;
  stop(): void;
}

/** Starts telemetry, the service and the flow watcher, and handles shutdown signals (`edgeke run`, `edgeke demo`). */
export async function startService(options: StartServiceOptions): Promise<RunningService> {
  const telemetry = await startTelemetry(options.telemetry);
  const { logger } = telemetry;
  // /readyz is served from here on, and with no checks registered it would say ready: not ready until the flows
  // have registered theirs (a caller that sends frames on the first 200 would lose them).
  const starting = telemetry.readiness.register('edgeke:starting', () => ({ ok: false, detail: 'flows starting' }));
  let service: EdgekeService;
  try {
    service = await EdgekeService.start(options.flows, {
      logger,
      metrics: telemetry.metrics,
      readiness: telemetry.readiness,
      mqttResultsSink: async (config, classes, log) => createMqttResultSink(config, classes, log, { metrics: telemetry.metrics }),
      ...(options.extraSinks === undefined ? {} : { extraSinks: options.extraSinks }),
      ...(options.influxClientFactory === undefined ? {} : { influxClientFactory: options.influxClientFactory }),
      onResult: (result) => {
        telemetry.status.record(result, result.label ?? options.labelOf?.(result));
        options.onResult?.(result);
      },
      onFlowRemoved: (name) => telemetry.status.removeFlow(name),
      // Model folders are watched with the flow files: a replaced model is swapped in while frames flow.
      ...(options.watch ? { watchModelFolders: {} } : {}),
    });
  } catch (error) {
    await telemetry.close();
    throw error;
  }
  starting();
  const watcher = new FlowWatcher({
    paths: options.paths,
    running: options.flows,
    logger: logger.child({ component: 'flow-watcher' }),
    onFlows: (flows) => service.apply(flows),
  });
  // A rejected flow file does not block readiness (its flow keeps its last good config); /readyz names it.
  telemetry.readiness.registerNotices(() => watcher.rejections());
  if (options.watch) await watcher.start();

  let requestStop: () => void = () => undefined;
  const stopRequested = new Promise<void>((resolve) => (requestStop = resolve));

  return {
    service,
    telemetry,
    stop: () => requestStop(),
    async untilStopped(drainTimeoutMs, beforeDrain) {
      let signals = 0;
      let forced: (code: number) => void = () => undefined;
      const forcedExit = new Promise<number>((resolve) => (forced = resolve));
      const onSignal = (signal: NodeJS.Signals): void => {
        signals += 1;
        if (signals === 1) {
          logger.info({ signal, drainTimeoutMs }, 'stopping: finishing frames in flight and flushing sinks');
          requestStop();
        } else {
          logger.warn({ signal }, 'second signal: exiting now; unstored frames stay unacknowledged');
          forced(1);
        }
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      try {
        await stopRequested;
        watcher.close();
        await beforeDrain?.();
        const clean = await Promise.race([
          service.stop(drainTimeoutMs),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(false), drainTimeoutMs + 1_000).unref()),
          forcedExit.then(() => false),
        ]);
        if (!clean) logger.error({ drainTimeoutMs }, 'shutdown deadline passed with frames not stored; they were not acknowledged');
        else logger.info('stopped cleanly');
        return clean ? 0 : 1;
      } finally {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        await telemetry.close();
      }
    },
  };
}

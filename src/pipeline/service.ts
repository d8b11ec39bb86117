import type { Logger } from 'pino';
import type { LatencyModel } from '../control/index.ts';
import type { FrameResult } from '../core/frame.ts';
import { decodeImage } from '../decode/image.ts';
import { createDecoder } from '../decode/create-decoder.ts';
import type { LoadedFlow } from '../flows/load.ts';
import { resolveImageLimits } from '../decode/image-limits.ts';
import type { FlowConfig } from '../flows/schema.ts';
import { createInfluxWriter } from '../sinks/create-influx-writer.ts';
import type { InfluxClientFactory } from '../sinks/influx-client.ts';
import type { WalRecovery } from '../sinks/write-ahead-log.ts';
import type { MqttTransportFactory } from '../sources/mqtt-transport.ts';
import type { EdgekeMetrics } from '../telemetry/metrics.ts';
import type { Readiness } from '../telemetry/readiness.ts';
import { FlowPipeline } from './flow-pipeline.ts';
import { influxResultSink } from '../sinks/influx-result-sink.ts';
import type { ResultSink } from '../sinks/result-sink.ts';
import { openSharedModel, sharedModelKey, type SharedModel } from './shared-model.ts';
import { sourceForFlow } from './source-for-flow.ts';

export interface ServiceOptions {
  logger: Logger;
  metrics?: EdgekeMetrics;
  readiness?: Readiness;
  /** Extra sinks per flow (the demo's line-protocol file, its live summary). */
  extraSinks?: (config: FlowConfig) => ResultSink[];
  /** Replaces the `influx` package client (tests, the demo's file writer). */
  influxClientFactory?: InfluxClientFactory;
  /** Builds the MQTT results sink of a flow; absent: flows with `sinks.mqttResults` fail to start. */
  mqttResultsSink?: (config: FlowConfig, classes: readonly string[], logger: Logger) => Promise<ResultSink>;
  mqttConnect?: MqttTransportFactory;
  onResult?: (result: FrameResult) => void;
  profileCacheDir?: string;
  profileRepeats?: number;
  /** Largest batch profiled at start (at least every flow's maxBatch). */
  profileMaxBatch?: number;
}

interface RunningFlow {
  loaded: LoadedFlow;
  version: number;
  pipeline: FlowPipeline;
  model: SharedModel;
  sinks: ResultSink[];
  cleanups: (() => void)[];
}

/**
 * The running service: one pipeline per flow, one model runtime per model (shared by the flows that name it).
 * Flows start only after every flow file has validated (the caller loads them), so bad config never half-starts.
 */
export class EdgekeService {
  private readonly flows = new Map<string, RunningFlow>();
  private readonly models = new Map<string, SharedModel>();
  /**
   * Per flow, a config that could not start: a change (the flow went back to its running config) or a new flow (it
   * runs nothing). Reported as a readiness notice: it does not block readiness, the flows that run are ready.
   */
  private readonly unstartableConfigs = new Map<string, { configHash: string; detail: string }>();
  private readonly logger: Logger;
  private readonly unregisterNotices: () => void;

  constructor(private readonly options: ServiceOptions) {
    this.logger = options.logger;
    this.unregisterNotices =
      options.readiness?.registerNotices(() =>
        [...this.unstartableConfigs].map(([flow, { detail }]) => ({ name: `${flow}:config`, detail })),
      ) ?? (() => undefined);
  }

  static async start(flows: readonly LoadedFlow[], options: ServiceOptions): Promise<EdgekeService> {
    const service = new EdgekeService(options);
    try {
      for (const flow of flows) await service.startFlow(flow, 1);
    } catch (error) {
      await service.stop(2_000);
      throw error;
    }
    return service;
  }

  get flowNames(): string[] {
    return [...this.flows.keys()];
  }

  flow(name: string): { config: FlowConfig; version: number; pending: number } | undefined {
    const running = this.flows.get(name);
    return running === undefined ? undefined : { config: running.pipeline.currentConfig, version: running.version, pending: running.pipeline.pending };
  }

  /** The latency model a flow's controller plans with (the start-up profile, updated online); the demo sizes its load from it. */
  latencyModelOf(name: string): LatencyModel | undefined {
    return this.flows.get(name)?.model.estimator;
  }

  /**
   * Applies a new set of validated flows (hot reload): unchanged flows keep running; a change of policy, batching
   * or limits applies from the next frame with a new config version; a change of source, decoding, model or sinks
   * drains and restarts just that flow; removed flows drain and stop; new flows start.
   */
  async apply(next: readonly LoadedFlow[], drainTimeoutMs = 10_000): Promise<void> {
    const names = new Set(next.map((flow) => flow.config.name));
    for (const [name] of this.flows) {
      if (!names.has(name)) await this.stopFlow(name, drainTimeoutMs);
    }
    for (const name of [...this.unstartableConfigs.keys()]) if (!names.has(name)) this.unstartableConfigs.delete(name);
    // One flow that cannot start (its model will not load, its sink refuses) does not keep the others' changes out.
    const failures: { flow: string; error: unknown }[] = [];
    for (const flow of next) {
      try {
        await this.applyFlow(flow, drainTimeoutMs);
      } catch (error) {
        failures.push({ flow: flow.config.name, error });
      }
    }
    if (failures.length > 0) {
      throw new AggregateError(
        failures.map((failure) => failure.error),
        `flows not applied: ${failures.map((failure) => `${failure.flow} (${failure.error instanceof Error ? failure.error.message : String(failure.error)})`).join('; ')}`,
      );
    }
  }

  private async applyFlow(flow: LoadedFlow, drainTimeoutMs: number): Promise<void> {
    const running = this.flows.get(flow.config.name);
    if (running === undefined) {
      try {
        await this.startFlow(flow, 1);
      } catch (error) {
        this.unstartableConfigs.set(flow.config.name, { configHash: flow.configHash, detail: `could not start, runs nothing: ${messageOf(error)}` });
        throw error;
      }
      this.unstartableConfigs.delete(flow.config.name);
      return;
    }
    if (running.loaded.configHash === flow.configHash) {
      this.unstartableConfigs.delete(flow.config.name);
      return;
    }
    // Already tried and failed: not again on every other file's edit (each try restarts the running flow).
    if (this.unstartableConfigs.get(flow.config.name)?.configHash === flow.configHash) return;
    const version = running.version + 1;
    if (onlyLiveSettingsDiffer(running.loaded.config, flow.config)) {
      running.pipeline.applySettings(flow.config, version);
      running.loaded = flow;
      running.version = version;
      this.options.metrics?.setFlowConfig(flow.config.name, { version, deadlineMs: flow.config.policy.deadlineMs });
      this.logger.info({ flow: flow.config.name, version, deadlineMs: flow.config.policy.deadlineMs }, 'flow settings applied');
      return;
    }
    // Not ready from the moment the flow stops taking frames until it serves again (startFlow takes the check over).
    const restarting = this.options.readiness?.register(`${flow.config.name}:model`, () => ({ ok: false, detail: 'restarting with its new config' }));
    try {
      await this.stopFlow(flow.config.name, drainTimeoutMs);
      try {
        await this.startFlow(flow, version);
      } catch (error) {
        // The new config cannot run: go back to the one that did, so the flow keeps taking frames.
        this.logger.error({ flow: flow.config.name, err: error }, 'flow could not start with its new config; restarting its last good one');
        this.unstartableConfigs.set(flow.config.name, {
          configHash: flow.configHash,
          detail: `new config could not start, running version ${running.version}: ${messageOf(error)}`,
        });
        await this.startFlow(running.loaded, running.version);
        throw error;
      }
    } finally {
      restarting?.();
    }
    this.unstartableConfigs.delete(flow.config.name);
    this.logger.info({ flow: flow.config.name, version }, 'flow restarted with its new source, model or sinks');
  }

  /** Stops intake everywhere, finishes frames in flight, flushes sinks. Resolves true when nothing was left behind. */
  async stop(timeoutMs: number): Promise<boolean> {
    this.unregisterNotices();
    const deadline = Date.now() + timeoutMs;
    const results = await Promise.all([...this.flows.keys()].map((name) => this.stopFlow(name, Math.max(0, deadline - Date.now()))));
    return results.every(Boolean);
  }

  private async startFlow(flow: LoadedFlow, version: number): Promise<void> {
    const { config } = flow;
    const log = this.logger.child({ flow: config.name });
    // Ready only once the flow serves: its model loaded and profiled (seconds for a new model) and its pipeline running.
    let phase = `loading model ${config.model.path}`;
    const unregisterModelCheck = this.options.readiness?.register(`${config.name}:model`, () => ({ ok: phase === 'serving', detail: phase }));
    let model: SharedModel;
    try {
      model = await this.sharedModel(config, () => (phase = `profiling model ${config.model.path}`));
    } catch (error) {
      unregisterModelCheck?.();
      throw error;
    }
    const manifest = model.loaded.manifest;
    const cleanups: (() => void)[] = [];
    if (unregisterModelCheck !== undefined) cleanups.push(unregisterModelCheck);
    const sinks: ResultSink[] = [];
    try {
      const holder: { pipeline?: FlowPipeline } = {};
      const preprocessing = manifest.input.preprocessing;
      const decoder = createDecoder(config.decode, {
        flow: config.name,
        input: manifest.input,
        classes: manifest.classes,
        maxPayloadBytes: config.limits.maxPayloadBytes,
        // Read per frame: limits are live settings.
        ...(preprocessing.kind === 'image' ? { imageLimits: () => resolveImageLimits((holder.pipeline?.currentConfig ?? config).limits, preprocessing) } : {}),
        decodeImage,
      });
      if (config.sinks.influx !== undefined) {
        const metrics = this.options.metrics;
        const writer = await createInfluxWriter(config.name, config.sinks.influx, {
          logger: log.child({ component: 'influx-sink' }),
          ...(metrics === undefined
            ? {}
            : {
                walObserver: { committed: (records: number, seconds: number) => metrics.recordWalCommit(config.name, records, seconds) },
                onWalRecovered: (recovery: WalRecovery) => metrics.recordWalReplayed(config.name, recovery.records),
              }),
          ...(this.options.influxClientFactory === undefined ? {} : { clientFactory: this.options.influxClientFactory }),
          stats: {
            model: manifest.name,
            exitCount: manifest.exits.length,
            flowState: () => ({
              deadlineMs: holder.pipeline?.policy().deadlineMs ?? config.policy.deadlineMs,
              queueDepth: model.executor.queueDepth(config.name),
              configVersion: holder.pipeline?.configVersion() ?? version,
            }),
          },
        });
        sinks.push(influxResultSink(writer));
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
        if (this.options.readiness !== undefined) {
          const highWater = Math.floor(config.sinks.influx.bufferMaxPoints * 0.8);
          cleanups.push(
            this.options.readiness.register(`${config.name}:influx`, () => ({
              ok: writer.isReady && writer.bufferedPoints < highWater,
              detail: `buffer ${writer.bufferedPoints}/${highWater}`,
            })),
          );
        }
      }
      if (config.sinks.mqttResults !== undefined) {
        if (this.options.mqttResultsSink === undefined) throw new Error(`flow ${config.name}: no MQTT results sink available`);
        sinks.push(await this.options.mqttResultsSink(config, manifest.classes, log.child({ component: 'mqtt-results' })));
      }
      sinks.push(...(this.options.extraSinks?.(config) ?? []));

      let connected = false;
      const source = await sourceForFlow(config, manifest, {
        // The source adds its own flow and component bindings.
        logger: this.logger,
        ...(this.options.mqttConnect === undefined ? {} : { mqttConnect: this.options.mqttConnect }),
        events: {
          onStateChange: (change) => {
            connected = change.state === 'connected';
            this.options.metrics?.setSourceConnected(config.name, config.source.kind, connected);
          },
          onRejected: (rejection) => holder.pipeline?.recordSourceRejection(rejection),
        },
      });
      if (this.options.readiness !== undefined) {
        cleanups.push(this.options.readiness.register(`${config.name}:source`, () => ({ ok: connected, detail: connected ? 'connected' : 'not connected' })));
      }
      const pipeline = new FlowPipeline({
        config,
        configVersion: version,
        source,
        decoder,
        executor: model.executor,
        model: { name: manifest.name, engine: config.model.engine, classes: manifest.classes },
        sinks,
        logger: log,
        onResult: (result) => {
          this.options.metrics?.recordResult(result);
          this.options.onResult?.(result);
        },
        clockEvents: {
          onSkew: (device, skewMs) => this.options.metrics?.setDeviceClockSkew(config.name, device, skewMs / 1_000),
          onUntrusted: () => this.options.metrics?.recordCaptureTimeUntrusted(config.name),
          onClamped: () => this.options.metrics?.recordLatencyClamped(config.name),
        },
      });
      holder.pipeline = pipeline;
      const metrics = this.options.metrics;
      if (metrics !== undefined) {
        metrics.setFlowConfig(config.name, { version, deadlineMs: config.policy.deadlineMs });
        const timer = setInterval(() => metrics.setQueueDepth(config.name, model.executor.queueDepth(config.name)), 500);
        timer.unref();
        cleanups.push(() => clearInterval(timer));
      }
      model.users.add(config.name);
      this.flows.set(config.name, { loaded: flow, version, pipeline, model, sinks, cleanups });
      pipeline.start();
      phase = 'serving';
      log.info({ model: manifest.name, engine: config.model.engine, version, source: config.source.kind }, 'flow started');
    } catch (error) {
      for (const cleanup of cleanups) cleanup();
      await Promise.all(sinks.map((sink) => sink.close(1_000).catch(() => undefined)));
      await this.releaseModel(model, config.name);
      throw error;
    }
  }

  private async stopFlow(name: string, timeoutMs: number): Promise<boolean> {
    const running = this.flows.get(name);
    if (running === undefined) return true;
    this.flows.delete(name);
    const deadline = Date.now() + timeoutMs;
    const drained = await running.pipeline.stop(timeoutMs);
    const remaining = await Promise.all(running.sinks.map((sink) => sink.flush(Math.max(0, deadline - Date.now()))));
    await Promise.all(running.sinks.map((sink) => sink.close(Math.max(0, deadline - Date.now())).catch(() => undefined)));
    for (const cleanup of running.cleanups) cleanup();
    this.options.metrics?.removeFlow(name);
    await this.releaseModel(running.model, name);
    const clean = drained && remaining.every((count) => count === 0);
    this.logger.info({ flow: name, drained, undelivered: remaining.reduce((a, b) => a + b, 0) }, 'flow stopped');
    return clean;
  }

  private async sharedModel(config: FlowConfig, onProfiling: () => void): Promise<SharedModel> {
    const key = sharedModelKey(config.model);
    const existing = this.models.get(key);
    if (existing !== undefined) return existing;
    const model = await openSharedModel(config.model, {
      logger: this.logger.child({ component: 'model' }),
      onProfiling,
      maxBatch: Math.max(this.options.profileMaxBatch ?? 8, config.batching.maxBatch),
      modelsSharingCpu: () => this.models.size,
      ...(this.options.profileCacheDir === undefined ? {} : { profileCacheDir: this.options.profileCacheDir }),
      ...(this.options.profileRepeats === undefined ? {} : { profileRepeats: this.options.profileRepeats }),
    });
    this.models.set(key, model);
    this.options.metrics?.setModelLoaded(model.loaded.manifest.name, config.model.engine, true);
    return model;
  }

  private async releaseModel(model: SharedModel, flow: string): Promise<void> {
    model.users.delete(flow);
    if (model.users.size > 0 || !this.models.has(model.key)) return;
    await model.executor.drained();
    this.models.delete(model.key);
    this.options.metrics?.setModelLoaded(model.loaded.manifest.name, model.loaded.engine.name, false);
    await model.loaded.close();
  }
}

/** True when two configs differ only in what a running flow can take live: policy, batching, limits. */
function onlyLiveSettingsDiffer(a: FlowConfig, b: FlowConfig): boolean {
  const frozen = (config: FlowConfig): string => JSON.stringify({ ...config, policy: null, batching: null, limits: null });
  return frozen(a) === frozen(b);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

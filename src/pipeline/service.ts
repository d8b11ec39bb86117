import type { Logger } from 'pino';
import type { LatencyModel } from '../control/index.ts';
import type { FrameResult } from '../core/frame.ts';
import { decodeImage } from '../decode/image.ts';
import { createDecoder } from '../decode/create-decoder.ts';
import type { LoadedFlow } from '../flows/load.ts';
import { resolveImageLimits } from '../decode/image-limits.ts';
import type { FlowConfig } from '../flows/schema.ts';
import { onlyLiveSettingsDiffer, onlyModelAndLiveSettingsDiffer } from '../flows/live-settings.ts';
import type { InfluxClientFactory } from '../sinks/influx-client.ts';
import type { MqttTransportFactory } from '../sources/mqtt-transport.ts';
import type { EdgekeMetrics } from '../telemetry/metrics.ts';
import type { Readiness } from '../telemetry/readiness.ts';
import { openFlowInfluxSink } from './flow-influx-sink.ts';
import { FlowPipeline } from './flow-pipeline.ts';
import type { ResultSink } from '../sinks/result-sink.ts';
import { ModelBinding } from './model-binding.ts';
import { ModelFolderWatcher } from './model-folder-watcher.ts';
import { swapFailureOf } from './model-swap-error.ts';
import { openReplacement, switchBetweenBatches } from './model-replacement.ts';
import { folderModelHash, openSharedModel, sharedModelKey, swapIncompatibility, type SharedModel, type SharedModelOptions } from './shared-model.ts';
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
  /** A flow was removed by hot reload (its file deleted): the status board forgets it. */
  onFlowRemoved?: (name: string) => void;
  /**
   * Watch the folders of the models in use and swap a replaced model in while frames flow (docs/model-swaps.md).
   * `quietMs`: how long a folder must be still before it is tried (default 500).
   */
  watchModelFolders?: { quietMs?: number };
}

interface RunningFlow {
  loaded: LoadedFlow;
  version: number;
  pipeline: FlowPipeline;
  /** The model serving the flow now; follows swaps. */
  binding: ModelBinding;
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
  /** Per model key, the content hash of a replacement that failed: not tried again until the folder changes again. */
  private readonly failedSwaps = new Map<string, string>();
  private readonly folderWatcher: ModelFolderWatcher | undefined;
  private readonly folderListeners = new Map<string, () => void>();
  /** Flow changes and model swaps, one at a time. */
  private changes: Promise<unknown> = Promise.resolve();

  private readonly unregisterNotices: () => void;

  constructor(private readonly options: ServiceOptions) {
    this.logger = options.logger;
    this.unregisterNotices =
      options.readiness?.registerNotices(() =>
        [...this.unstartableConfigs].map(([flow, { detail }]) => ({ name: `${flow}:config`, detail })),
      ) ?? (() => undefined);
    if (options.watchModelFolders !== undefined) {
      this.folderWatcher = new ModelFolderWatcher({
        logger: this.logger.child({ component: 'model-watcher' }),
        ...(options.watchModelFolders.quietMs === undefined ? {} : { quietMs: options.watchModelFolders.quietMs }),
      });
    }
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
    return this.flows.get(name)?.binding.current.estimator;
  }

  /** The version (content hash) of the model serving a flow now. */
  modelVersionOf(name: string): string | undefined {
    return this.flows.get(name)?.binding.modelVersion;
  }

  /** Resolves once the changes and swaps begun so far are done (tests, shutdown). */
  settled(): Promise<void> {
    return this.changes.then(() => undefined);
  }

  /**
   * Applies a new set of validated flows (hot reload): unchanged flows keep running; a change of policy, batching
   * or limits applies from the next frame with a new config version; a new model is swapped in live (swapFlowModel);
   * a change of source, decoding or sinks (or a model with another input or classes) drains and restarts just that
   * flow; removed flows drain and stop (and onFlowRemoved hears of it); new flows start.
   */
  apply(next: readonly LoadedFlow[], drainTimeoutMs = 10_000): Promise<void> {
    return this.serially(() => this.applyNow(next, drainTimeoutMs));
  }

  private serially<T>(change: () => Promise<T>): Promise<T> {
    const result = this.changes.then(change);
    this.changes = result.catch(() => undefined);
    return result;
  }

  private async applyNow(next: readonly LoadedFlow[], drainTimeoutMs: number): Promise<void> {
    const names = new Set(next.map((flow) => flow.config.name));
    for (const [name] of this.flows) {
      if (names.has(name)) continue;
      await this.stopFlow(name, drainTimeoutMs);
      this.options.onFlowRemoved?.(name);
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
    if (onlyModelAndLiveSettingsDiffer(running.loaded.config, flow.config) && (await this.swapFlowModel(running, flow, version))) return;
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
    this.folderWatcher?.close();
    const deadline = Date.now() + timeoutMs;
    // A swap or reload under way finishes first (it may be moving flows between models).
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.changes, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
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
    const binding = new ModelBinding(model);
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
        const opened = await openFlowInfluxSink(config, config.sinks.influx, {
          logger: log.child({ component: 'influx-sink' }),
          flowState: () => ({
            deadlineMs: holder.pipeline?.policy().deadlineMs ?? config.policy.deadlineMs,
            queueDepth: binding.queueDepth(config.name),
            configVersion: holder.pipeline?.configVersion() ?? version,
            // Read per interval: a live swap (swapFlowModel, swapReplacedFolder) changes it.
            model: binding.servingModel(),
          }),
          ...(this.options.metrics === undefined ? {} : { metrics: this.options.metrics }),
          ...(this.options.readiness === undefined ? {} : { readiness: this.options.readiness }),
          ...(this.options.influxClientFactory === undefined ? {} : { clientFactory: this.options.influxClientFactory }),
        });
        sinks.push(opened.sink);
        cleanups.push(...opened.cleanups);
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
        executor: binding,
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
        const timer = setInterval(() => {
          metrics.setQueueDepth(config.name, binding.queueDepth(config.name));
          metrics.setWorkBudgetScale(config.name, binding.workBudgetScale);
        }, 500);
        timer.unref();
        cleanups.push(() => clearInterval(timer));
      }
      model.users.add(config.name);
      this.flows.set(config.name, { loaded: flow, version, pipeline, binding, sinks, cleanups });
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
    await this.releaseModel(running.binding.current, name);
    const clean = drained && remaining.every((count) => count === 0);
    this.logger.info({ flow: name, drained, undelivered: remaining.reduce((a, b) => a + b, 0) }, 'flow stopped');
    return clean;
  }

  private async sharedModel(config: FlowConfig, onProfiling: () => void): Promise<SharedModel> {
    const key = sharedModelKey(config.model);
    const existing = this.models.get(key);
    if (existing !== undefined) return existing;
    const model = await openSharedModel(config.model, { ...this.sharedModelOptions(config.batching.maxBatch), onProfiling });
    this.models.set(key, model);
    this.options.metrics?.setModelLoaded(model.loaded.manifest.name, config.model.engine, true);
    this.options.metrics?.setModelVersion(config.model.path, config.model.engine, { name: model.loaded.manifest.name, version: model.version });
    this.folderWatcher?.add(config.model.path, this.folderListener(key));
    return model;
  }

  private async releaseModel(model: SharedModel, flow: string): Promise<void> {
    model.users.delete(flow);
    // A model replaced by a folder swap meanwhile is closed by the swap, and its key belongs to its successor.
    if (model.users.size > 0 || this.models.get(model.key) !== model) return;
    await model.executor.drained();
    this.models.delete(model.key);
    this.failedSwaps.delete(model.key);
    this.folderWatcher?.remove(model.path, this.folderListener(model.key));
    this.options.metrics?.setModelLoaded(model.loaded.manifest.name, model.loaded.engine.name, false);
    this.options.metrics?.setModelVersion(model.path, model.loaded.engine.name, undefined);
    await model.loaded.close();
  }

  /**
   * A flow file now names another model (and perhaps new live settings): the new model is loaded and profiled while
   * the old one serves, then takes the flow's next frames; frames already at the old one finish there. False when the
   * new model takes another input or classes: the caller restarts the flow instead. A model that does not load
   * leaves the flow on its old one (thrown, logged and counted).
   */
  private async swapFlowModel(running: RunningFlow, flow: LoadedFlow, version: number): Promise<boolean> {
    const name = flow.config.name;
    const folder = flow.config.model.path;
    let next: SharedModel;
    try {
      // The flow keeps serving on its old model meanwhile: its readiness does not change.
      next = await this.sharedModel(flow.config, () => undefined);
    } catch (error) {
      this.swapFailed(folder, error, name);
      this.unstartableConfigs.set(name, { configHash: flow.configHash, detail: `new model could not load, still serving version ${running.version}: ${messageOf(error)}` });
      throw error;
    }
    const incompatible = swapIncompatibility(running.binding.current, next);
    if (incompatible !== undefined) {
      if (next.users.size === 0) await this.releaseModel(next, name);
      this.logger.info({ flow: name, reason: incompatible.reason }, 'the new model takes another input or classes: restarting the flow with it');
      return false;
    }
    const previous = running.binding.current;
    // Between batches, as for a replaced folder, when the two serve this flow alone; a model shared with other flows
    // keeps running for them, and the two overlap for the few batches the old one still has of this flow.
    if (next.users.size === 0 && previous.users.size <= 1) next.executor.holdUntil(previous.executor.drained());
    next.users.add(name);
    running.pipeline.applySettings(flow.config, version);
    running.loaded = flow;
    running.version = version;
    this.unstartableConfigs.delete(name);
    const drained = running.binding.switchTo(next);
    this.options.metrics?.setFlowConfig(name, { version, deadlineMs: flow.config.policy.deadlineMs });
    this.options.metrics?.recordModelSwap(folder, 'ok');
    this.logger.info({ flow: name, version, model: next.loaded.manifest.name, modelVersion: next.version, from: previous.version }, 'flow switched to its new model');
    void drained.then(() => this.releaseModel(previous, name)).catch((error: unknown) => this.logger.error({ err: error }, 'closing the replaced model failed'));
    return true;
  }

  /**
   * The folder of a model in use changed. When its content (hash) did, the new model is loaded, validated and
   * profiled beside the old one, then every flow of the old one switches to it between batches: the new model starts
   * its first batch once the old one has finished every frame it had (in-flight frames finish on the old model).
   * Anything wrong leaves the old one serving, with the reason logged and counted.
   */
  private async swapReplacedFolder(key: string): Promise<void> {
    const old = this.models.get(key);
    if (old === undefined) return;
    const hash = await folderModelHash(old.path).catch((error: unknown) => `unreadable: ${error instanceof Error ? error.message : String(error)}`);
    if (hash === old.hash || hash === this.failedSwaps.get(key)) return;
    const flows = [...this.flows.values()].filter((running) => running.binding.current === old);
    let next: SharedModel;
    try {
      next = await openReplacement(old, this.sharedModelOptions(Math.max(...flows.map((running) => running.pipeline.maxBatch()))));
    } catch (error) {
      this.failedSwaps.set(key, hash);
      this.swapFailed(old.path, error);
      return;
    }
    this.failedSwaps.delete(key);
    this.models.set(key, next);
    const switched = switchBetweenBatches(old, next, flows.map((running) => ({ name: running.loaded.config.name, binding: running.binding })));
    const { metrics } = this.options;
    metrics?.setModelVersion(old.path, next.loaded.engine.name, { name: next.loaded.manifest.name, version: next.version });
    metrics?.recordModelSwap(old.path, 'ok');
    if (old.loaded.manifest.name !== next.loaded.manifest.name) {
      metrics?.setModelLoaded(old.loaded.manifest.name, old.loaded.engine.name, false);
      metrics?.setModelLoaded(next.loaded.manifest.name, next.loaded.engine.name, true);
    }
    const names = flows.map((running) => running.loaded.config.name);
    this.logger.info({ folder: old.path, model: next.loaded.manifest.name, modelVersion: next.version, from: old.version, flows: names }, 'model swapped in');
    await switched;
    await old.loaded.close();
  }

  private sharedModelOptions(maxBatch: number): SharedModelOptions {
    return {
      logger: this.logger.child({ component: 'model' }),
      maxBatch: Math.max(this.options.profileMaxBatch ?? 8, maxBatch),
      cpuWeights: () => [...this.models.values()].map((model) => model.executor.cpuWeight()),
      ...(this.options.profileCacheDir === undefined ? {} : { profileCacheDir: this.options.profileCacheDir }),
      ...(this.options.profileRepeats === undefined ? {} : { profileRepeats: this.options.profileRepeats }),
    };
  }

  /** The folder watcher's listener for one model key (the same function each time, so it can be removed). */
  private folderListener(key: string): () => void {
    let listener = this.folderListeners.get(key);
    if (listener === undefined) {
      listener = () => void this.serially(() => this.swapReplacedFolder(key)).catch(() => undefined);
      this.folderListeners.set(key, listener);
    }
    return listener;
  }

  private swapFailed(folder: string, error: unknown, flow?: string): void {
    const reason = swapFailureOf(error);
    this.options.metrics?.recordModelSwap(folder, 'failed', reason);
    this.logger.error({ folder, reason, err: error, ...(flow === undefined ? {} : { flow }) }, 'model not swapped in; the serving model keeps serving');
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { FrameResult } from '../core/frame.ts';

/**
 * Prometheus metrics of one EdgeKE process. Each instance owns its Registry (never prom-client's global one), so
 * tests and several pipelines in one process do not leak series into each other.
 *
 * Prometheus conventions: base units (seconds, not milliseconds, although deadlines are written in milliseconds),
 * `_total` on counters. The latency bucket edges are chosen so a deadline of 10–200 ms falls on or near an edge and
 * "share under the deadline" can be read straight off the buckets.
 */

/** Histogram edges (seconds) fitted to per-frame deadlines: 1 ms to 2 s. */
export const LATENCY_BUCKETS_SECONDS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2] as const;

const MS_PER_SECOND = 1000;

/** Group-commit durations (write + fdatasync, seconds): 0.5 ms (a fast SSD) to 2.5 s (a stalling disk). */
export const WAL_FSYNC_BUCKETS_SECONDS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const;

/** Records per group commit: 1 (a quiet flow) to the default group limit of 1,000. */
export const WAL_GROUP_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] as const;

/** What a flow's write-ahead log holds now (the sink's WalState). */
export interface WalGauges {
  bytes: number;
  records: number;
  segments: number;
  retainedSegments: number;
  /** Cumulative, seconds: the counter advances by what it grew since the last call. */
  intakeHeldSeconds: number;
}

/** Label value for "no exit" (shed, error) and "no reason" (ok, late), as in the InfluxDB schema. */
export const NONE = 'none';

export interface MetricsOptions {
  /** Prefix of every EdgeKE series; default `edgeke_`. Default process metrics keep their standard names. */
  prefix?: string;
  /** prom-client's default process metrics (CPU, memory, GC, handles, event loop lag); default true. */
  defaultMetrics?: boolean;
  /** Sampling resolution of the explicit event-loop delay monitor; default 10 ms. */
  eventLoopResolutionMs?: number;
}

/** What a pipeline reports about its flows, sources and sinks. All methods are cheap and synchronous. */
export class EdgekeMetrics {
  readonly registry = new Registry();

  private readonly frames: Counter<'flow' | 'outcome' | 'reason'>;
  private readonly exits: Counter<'flow' | 'exit'>;
  private readonly e2eLatency: Histogram<'flow' | 'outcome'>;
  private readonly queueLatency: Histogram<'flow'>;
  private readonly inferenceLatency: Histogram<'flow' | 'exit'>;
  private readonly queueDepth: Gauge<'flow'>;
  private readonly workBudgetScale: Gauge<'flow'>;
  private readonly sinkBuffer: Gauge<'sink'>;
  private readonly sinkDropped: Counter<'sink' | 'reason'>;
  private readonly sourceConnected: Gauge<'flow' | 'source'>;
  private readonly configVersion: Gauge<'flow'>;
  private readonly deadline: Gauge<'flow'>;
  private readonly modelLoaded: Gauge<'model' | 'engine'>;
  private readonly modelVersion: Gauge<'folder' | 'model' | 'engine' | 'version'>;
  private readonly modelSwaps: Counter<'folder' | 'result' | 'reason'>;
  private readonly deviceClockSkew: Gauge<'flow' | 'device'>;
  private readonly captureTimesUntrusted: Counter<'flow'>;
  private readonly latenciesClamped: Counter<'flow'>;
  private readonly walBytes: Gauge<'flow'>;
  private readonly walRecords: Gauge<'flow'>;
  private readonly walSegments: Gauge<'flow' | 'state'>;
  private readonly walFsync: Histogram<'flow'>;
  private readonly walGroup: Histogram<'flow'>;
  private readonly walIntakeHeld: Counter<'flow'>;
  private readonly walReplayed: Counter<'flow'>;
  /** Per flow, the cumulative hold time already counted. */
  private readonly walIntakeHeldCounted = new Map<string, number>();
  private readonly eventLoopDelay: IntervalHistogram;
  private readonly flowSeries = new Map<string, Map<string, () => void>>();
  private readonly modelVersionSeries = new Map<string, Record<'folder' | 'model' | 'engine' | 'version', string>>();

  constructor(options: MetricsOptions = {}) {
    const prefix = options.prefix ?? 'edgeke_';
    const registers = [this.registry];
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });

    this.frames = new Counter({
      name: `${prefix}frames_total`,
      help: 'Frames that got an outcome (ok, late, shed, error); reason is why a frame was shed or failed, else none',
      labelNames: ['flow', 'outcome', 'reason'],
      registers,
    });
    this.exits = new Counter({
      name: `${prefix}exits_total`,
      help: 'Answered frames (ok and late) by the exit that answered them',
      labelNames: ['flow', 'exit'],
      registers,
    });
    this.e2eLatency = new Histogram({
      name: `${prefix}frame_e2e_latency_seconds`,
      help: 'Capture to result (seconds) of answered frames; compare with the flow deadline',
      labelNames: ['flow', 'outcome'],
      buckets: [...LATENCY_BUCKETS_SECONDS],
      registers,
    });
    this.queueLatency = new Histogram({
      name: `${prefix}frame_queue_latency_seconds`,
      help: 'Receive to inference start (seconds) of answered frames',
      labelNames: ['flow'],
      buckets: [...LATENCY_BUCKETS_SECONDS],
      registers,
    });
    this.inferenceLatency = new Histogram({
      name: `${prefix}frame_inference_latency_seconds`,
      help: 'Model time (seconds) spent on an answered frame, by exit',
      labelNames: ['flow', 'exit'],
      buckets: [...LATENCY_BUCKETS_SECONDS],
      registers,
    });
    this.queueDepth = new Gauge({ name: `${prefix}queue_depth`, help: 'Frames waiting for inference', labelNames: ['flow'], registers });
    this.workBudgetScale = new Gauge({
      name: `${prefix}work_budget_ratio`,
      help: "Share of its normal inference budget the flow's model plans with (1 = all; down to 0.3 while frames miss their deadlines on a busy core): below 1, exits are lowered to win back slack",
      labelNames: ['flow'],
      registers,
    });
    this.sinkBuffer = new Gauge({ name: `${prefix}sink_buffer_points`, help: 'Points waiting in a sink buffer', labelNames: ['sink'], registers });
    this.sinkDropped = new Counter({
      name: `${prefix}sink_dropped_points_total`,
      help: 'Points or results a sink dropped, by reason (InfluxDB refused them for good, unpublishable live results)',
      labelNames: ['sink', 'reason'],
      registers,
    });
    this.sourceConnected = new Gauge({
      name: `${prefix}source_connected`,
      help: '1 while a flow source is connected to its broker or server, else 0',
      labelNames: ['flow', 'source'],
      registers,
    });
    this.configVersion = new Gauge({ name: `${prefix}flow_config_version`, help: 'Version of the flow config in force (hot reload)', labelNames: ['flow'], registers });
    this.deadline = new Gauge({ name: `${prefix}flow_deadline_seconds`, help: 'Deadline (seconds) of the flow config in force', labelNames: ['flow'], registers });
    this.deviceClockSkew = new Gauge({
      name: `${prefix}device_clock_skew_seconds`,
      help: 'Estimated clock skew of a device (by the flow clocks.deviceKey: its MQTT topic or OPC UA node, or its frame id prefix), in seconds; positive = its clock is ahead',
      labelNames: ['flow', 'device'],
      registers,
    });
    this.captureTimesUntrusted = new Counter({
      name: `${prefix}capture_time_untrusted_total`,
      help: 'Frames whose capture time was ahead of the receive time beyond the tolerance; the receive time stood in',
      labelNames: ['flow'],
      registers,
    });
    this.latenciesClamped = new Counter({
      name: `${prefix}latency_clamped_total`,
      help: 'Frames whose end-to-end latency came out negative (capture time just ahead, within the tolerance) and was set to 0',
      labelNames: ['flow'],
      registers,
    });
    this.walBytes = new Gauge({
      name: `${prefix}wal_bytes`,
      help: 'Bytes of a flow write-ahead log counted against walMaxBytes: its .log segments (confirmed records leave with their segment) and appends reserved',
      labelNames: ['flow'],
      registers,
    });
    this.walRecords = new Gauge({ name: `${prefix}wal_records`, help: 'Records (points) in a flow write-ahead log not yet confirmed by InfluxDB', labelNames: ['flow'], registers });
    this.walSegments = new Gauge({
      name: `${prefix}wal_segments`,
      help: 'Segment files of a flow write-ahead log: state log (holding unconfirmed records, or being written), done (confirmed, kept to recognise redeliveries)',
      labelNames: ['flow', 'state'],
      registers,
    });
    this.walFsync = new Histogram({
      name: `${prefix}wal_fsync_duration_seconds`,
      help: 'Duration of one write-ahead log group commit: its write and fdatasync (seconds); frames wait for it before acknowledgement',
      labelNames: ['flow'],
      buckets: [...WAL_FSYNC_BUCKETS_SECONDS],
      registers,
    });
    this.walGroup = new Histogram({
      name: `${prefix}wal_commit_records`,
      help: 'Records made durable by one write-ahead log group commit (one fdatasync)',
      labelNames: ['flow'],
      buckets: [...WAL_GROUP_BUCKETS],
      registers,
    });
    this.walIntakeHeld = new Counter({
      name: `${prefix}wal_intake_held_seconds_total`,
      help: 'Time (seconds) a flow write-ahead log held intake back: past its high-water share of walMaxBytes (InfluxDB not confirming), appends waiting for room, or its disk failing',
      labelNames: ['flow'],
      registers,
    });
    this.walReplayed = new Counter({
      name: `${prefix}wal_replayed_records_total`,
      help: 'Records a flow write-ahead log recovered on start (left unconfirmed by the previous run) and wrote to InfluxDB again',
      labelNames: ['flow'],
      registers,
    });
    this.modelLoaded = new Gauge({ name: `${prefix}model_loaded`, help: '1 once a model runtime is loaded and ready', labelNames: ['model', 'engine'], registers });
    this.modelVersion = new Gauge({
      name: `${prefix}model_version_info`,
      help: 'Always 1: the version (content hash, as model_version in results) of the model serving from each model folder',
      labelNames: ['folder', 'model', 'engine', 'version'],
      registers,
    });
    this.modelSwaps = new Counter({
      name: `${prefix}model_swaps_total`,
      help: 'Attempts to swap in a replaced model folder or a flow\'s new model while it runs; result ok or failed (the old model keeps serving), reason why it failed (load-failed, changed-while-loading, input-changed, classes-changed, validation-failed) or none',
      labelNames: ['folder', 'result', 'reason'],
      registers,
    });

    // prom-client's default metrics already report event loop lag; this gauge is EdgeKE's own, read at scrape time
    // and reset after, so each scrape shows the delay since the previous one (what a stalled pipeline looks like).
    this.eventLoopDelay = monitorEventLoopDelay({ resolution: options.eventLoopResolutionMs ?? 10 });
    this.eventLoopDelay.enable();
    const loop = this.eventLoopDelay;
    new Gauge({
      name: `${prefix}event_loop_delay_seconds`,
      help: 'Event loop delay since the previous scrape (seconds), by statistic (p50, p99, max, mean)',
      labelNames: ['stat'],
      registers,
      collect() {
        const hasSamples = loop.count > 0;
        const toSeconds = (ns: number): number => (hasSamples && Number.isFinite(ns) ? ns / 1e9 : 0);
        this.set({ stat: 'p50' }, toSeconds(loop.percentile(50)));
        this.set({ stat: 'p99' }, toSeconds(loop.percentile(99)));
        this.set({ stat: 'max' }, toSeconds(loop.max));
        this.set({ stat: 'mean' }, toSeconds(loop.mean));
        loop.reset();
      },
    });
  }

  /** Counts a frame's outcome and, when it was answered, its exit and latencies. Call once per frame. */
  recordResult(result: FrameResult): void {
    const { flow, outcome } = result;
    const frameLabels = { flow, outcome, reason: result.reason ?? NONE };
    this.frames.inc(frameLabels);
    this.track(flow, this.frames, 'frames', frameLabels);
    if (outcome !== 'ok' && outcome !== 'late') return;
    const exit = result.exit === undefined ? NONE : String(result.exit);
    this.exits.inc({ flow, exit });
    this.e2eLatency.observe({ flow, outcome }, result.e2eMs / MS_PER_SECOND);
    this.queueLatency.observe({ flow }, result.queueMs / MS_PER_SECOND);
    this.inferenceLatency.observe({ flow, exit }, result.inferMs / MS_PER_SECOND);
    this.track(flow, this.exits, 'exits', { flow, exit });
    this.track(flow, this.e2eLatency, 'e2e', { flow, outcome });
    this.track(flow, this.queueLatency, 'queue', { flow });
    this.track(flow, this.inferenceLatency, 'inference', { flow, exit });
  }

  setQueueDepth(flow: string, depth: number): void {
    this.queueDepth.set({ flow }, depth);
    this.track(flow, this.queueDepth, 'queueDepth', { flow });
  }

  setWorkBudgetScale(flow: string, scale: number): void {
    this.workBudgetScale.set({ flow }, scale);
    this.track(flow, this.workBudgetScale, 'workBudgetScale', { flow });
  }

  /** `source` names the connection, e.g. `mqtt` or `opcua:plc-1`. */
  setSourceConnected(flow: string, source: string, connected: boolean): void {
    this.sourceConnected.set({ flow, source }, connected ? 1 : 0);
    this.track(flow, this.sourceConnected, 'source', { flow, source });
  }

  /** Call on start and on every accepted hot reload. */
  setFlowConfig(flow: string, config: { version: number; deadlineMs: number }): void {
    this.configVersion.set({ flow }, config.version);
    this.deadline.set({ flow }, config.deadlineMs / MS_PER_SECOND);
    this.track(flow, this.configVersion, 'configVersion', { flow });
    this.track(flow, this.deadline, 'deadline', { flow });
  }

  /** `skewSeconds`: positive when the device's clock is ahead of ours. */
  setDeviceClockSkew(flow: string, device: string, skewSeconds: number): void {
    this.deviceClockSkew.set({ flow, device }, skewSeconds);
    this.track(flow, this.deviceClockSkew, 'clockSkew', { flow, device });
  }

  recordCaptureTimeUntrusted(flow: string): void {
    this.captureTimesUntrusted.inc({ flow });
    this.track(flow, this.captureTimesUntrusted, 'captureUntrusted', { flow });
  }

  recordLatencyClamped(flow: string): void {
    this.latenciesClamped.inc({ flow });
    this.track(flow, this.latenciesClamped, 'latencyClamped', { flow });
  }

  setModelLoaded(model: string, engine: string, loaded: boolean): void {
    this.modelLoaded.set({ model, engine }, loaded ? 1 : 0);
  }

  /** The model now serving from `folder` in `engine` (replaces the series of the version before); undefined: none. */
  setModelVersion(folder: string, engine: string, model: { name: string; version: string } | undefined): void {
    const key = `${folder}|${engine}`;
    const previous = this.modelVersionSeries.get(key);
    if (previous !== undefined) this.modelVersion.remove(previous);
    this.modelVersionSeries.delete(key);
    if (model === undefined) return;
    const labels = { folder, model: model.name, engine, version: model.version };
    this.modelVersion.set(labels, 1);
    this.modelVersionSeries.set(key, labels);
  }

  /** One swap attempt: `reason` is a ModelSwapFailure when it failed, else none. */
  recordModelSwap(folder: string, result: 'ok' | 'failed', reason?: string): void {
    this.modelSwaps.inc({ folder, result, reason: reason ?? NONE });
  }

  /** `sink` names the sink instance, e.g. `influxdb` or `mqtt-results`. */
  setSinkBuffer(sink: string, points: number): void {
    this.sinkBuffer.set({ sink }, points);
  }

  /** `reason` is stable and short: `rejected` (InfluxDB 400), `invalid`, `wal-corrupt`, `publish-failed`, `queue-full`. */
  recordSinkDropped(sink: string, reason: string, points = 1): void {
    if (points > 0) this.sinkDropped.inc({ sink, reason }, points);
  }

  /** One group commit of a flow's write-ahead log. */
  recordWalCommit(flow: string, records: number, seconds: number): void {
    this.walFsync.observe({ flow }, seconds);
    this.walGroup.observe({ flow }, records);
    this.track(flow, this.walFsync, 'walFsync', { flow });
    this.track(flow, this.walGroup, 'walGroup', { flow });
  }

  /** Records recovered on start (once per log opened). */
  recordWalReplayed(flow: string, records: number): void {
    this.walReplayed.inc({ flow }, records);
    this.track(flow, this.walReplayed, 'walReplayed', { flow });
  }

  /** What a flow's write-ahead log holds now (read on a timer). */
  setWalState(flow: string, state: WalGauges): void {
    this.walBytes.set({ flow }, state.bytes);
    this.walRecords.set({ flow }, state.records);
    this.walSegments.set({ flow, state: 'log' }, state.segments);
    this.walSegments.set({ flow, state: 'done' }, state.retainedSegments);
    const counted = this.walIntakeHeldCounted.get(flow) ?? 0;
    // Zero at first, so the series exists before the first wait (rate() needs a starting sample).
    this.walIntakeHeld.inc({ flow }, Math.max(0, state.intakeHeldSeconds - counted));
    this.walIntakeHeldCounted.set(flow, Math.max(counted, state.intakeHeldSeconds));
    this.track(flow, this.walBytes, 'walBytes', { flow });
    this.track(flow, this.walRecords, 'walRecords', { flow });
    this.track(flow, this.walSegments, 'walSegmentsLog', { flow, state: 'log' });
    this.track(flow, this.walSegments, 'walSegmentsDone', { flow, state: 'done' });
    this.track(flow, this.walIntakeHeld, 'walIntakeHeld', { flow });
  }

  /** Drops a removed flow's series, so a deleted flow file does not leave stale gauges behind. */
  removeFlow(flow: string): void {
    for (const remove of this.flowSeries.get(flow)?.values() ?? []) remove();
    this.flowSeries.delete(flow);
    this.walIntakeHeldCounted.delete(flow);
  }

  /** prom-client removes series by exact label set only, so remember each flow's label sets as they appear. */
  private track(flow: string, metric: { remove(labels: Record<string, string>): void }, name: string, labels: Record<string, string>): void {
    let series = this.flowSeries.get(flow);
    if (series === undefined) {
      series = new Map();
      this.flowSeries.set(flow, series);
    }
    // Called for every result: the key is built without collecting the label values into an array.
    let key = name;
    for (const label in labels) key += `|${labels[label] as string}`;
    if (!series.has(key)) series.set(key, () => metric.remove(labels));
  }

  /** Prometheus text exposition of everything in this registry. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** Stops the event-loop monitor and forgets every series. */
  close(): void {
    this.eventLoopDelay.disable();
    this.registry.clear();
  }
}

import type { FrameResult } from '../../../src/core/frame.ts';
import type { WalInterval } from '../../../src/sinks/wal-interval.ts';
import type { FlowState } from '../../../src/sinks/flow-stats.ts';
import type { TelemetryPoint } from './influx-loader.ts';
import { seededRandom as random } from '../../helpers/seeded-random.ts';

/**
 * Synthetic but realistic runs of several flows: the FrameResults a pipeline would produce (all four outcomes,
 * several exits, load waves, hot-reloaded deadlines) plus the flow and sink state at the end of each stats interval.
 * `syntheticTelemetry` shapes them into points exactly as docs/telemetry.md describes, independently of the sink;
 * the same runs can be fed to the sink's own point builders. Deterministic (seeded), so failures reproduce.
 */

export interface ConfigChange {
  /** Offset from the start of the run (ms) at which this config version takes over. */
  atMs: number;
  version: number;
  deadlineMs: number;
}

export interface SyntheticFlow {
  name: string;
  model: string;
  engine: 'onnx' | 'tfjs';
  classes: string[];
  /** Model time (ms) of each exit, deepest last. */
  exitInferMs: number[];
  fps: number;
  /** First entry must be at 0. */
  configs: ConfigChange[];
  /** Whether devices send labels (simulators replaying a labelled test split). */
  labelled: boolean;
  /** Whether devices send capture times (else the receive time stands in). */
  deviceClock: boolean;
  /** Model versions (content hashes) in order; the first entry must be at 0. A later one is a model swap. */
  models: ModelChange[];
  /** Points its write-ahead log replayed on start (left by a previous run). */
  walReplayed: number;
  /** An InfluxDB outage (offsets from the start, ms): the log's backlog grows, and past a bound intake is held back. */
  influxOutage?: { atMs: number; durationMs: number };
}

export interface ModelChange {
  /** Offset from the start of the run (ms) at which this model version takes over. */
  atMs: number;
  version: string;
}

export interface SyntheticRun {
  startMs: number;
  durationMs: number;
  statsIntervalMs: number;
  flows: SyntheticFlow[];
  seed?: number;
}

export interface StatsInterval {
  endMs: number;
  /** As the service reads it at the interval's end (the serving model included: it follows the model swaps). */
  flowState: FlowState;
  sinkState: { bufferedPoints: number; droppedInInterval: number; wal: WalInterval & { commits: NonNullable<WalInterval['commits']> } };
}

export interface SyntheticFlowRun {
  flow: SyntheticFlow;
  /** In capture order. */
  results: FrameResult[];
  /** In time order; interval k covers (endMs[k-1], endMs[k]]. */
  intervals: StatsInterval[];
}

export interface SyntheticRuns {
  flows: SyntheticFlowRun[];
  fromMs: number;
  toMs: number;
  configChanges: Map<string, { atMs: number; version: number }[]>;
  /** Per flow: times (ms, absolute) at which each model version took over, the first at the start. */
  modelVersions: Map<string, { atMs: number; version: string }[]>;
}

export interface SyntheticTelemetry {
  points: TelemetryPoint[];
  /** Capture-time range covered by the points (ms). */
  fromMs: number;
  toMs: number;
  /** Per flow: times (ms, absolute) at which a new config version took over. */
  configChanges: Map<string, { atMs: number; version: number }[]>;
  modelVersions: Map<string, { atMs: number; version: string }[]>;
}

export const DEFAULT_FLOWS: SyntheticFlow[] = [
  {
    name: 'camera-neu',
    model: 'neu-multiexit',
    engine: 'onnx',
    classes: ['crazing', 'inclusion', 'patches', 'pitted_surface', 'rolled-in_scale', 'scratches'],
    exitInferMs: [3, 7, 13, 22],
    fps: 8,
    configs: [
      { atMs: 0, version: 1, deadlineMs: 50 },
      { atMs: 8 * 60_000, version: 2, deadlineMs: 25 },
      { atMs: 16 * 60_000, version: 3, deadlineMs: 40 },
    ],
    labelled: true,
    deviceClock: true,
    models: [
      { atMs: 0, version: '3fa9c2d1e0b4' },
      { atMs: 11 * 60_000, version: '8c01d7e5a2f9' },
    ],
    walReplayed: 240,
    influxOutage: { atMs: 13 * 60_000, durationMs: 2 * 60_000 },
  },
  {
    name: 'bearing-cwru',
    model: 'cwru-multiexit',
    engine: 'onnx',
    classes: ['normal', 'inner_race', 'ball', 'outer_race'],
    exitInferMs: [1, 2.5, 5],
    fps: 12,
    configs: [
      { atMs: 0, version: 1, deadlineMs: 20 },
      { atMs: 12 * 60_000, version: 2, deadlineMs: 8 },
    ],
    labelled: true,
    deviceClock: true,
    models: [{ atMs: 0, version: '5d2b9e0c7a13' }],
    walReplayed: 0,
  },
  {
    name: 'press_line2-opcua',
    model: 'cwru-multiexit',
    engine: 'tfjs',
    classes: ['normal', 'inner_race', 'ball', 'outer_race'],
    exitInferMs: [2, 4, 8],
    fps: 4,
    configs: [{ atMs: 0, version: 1, deadlineMs: 30 }],
    labelled: false,
    deviceClock: false,
    models: [{ atMs: 0, version: '5d2b9e0c7a13' }],
    walReplayed: 35,
  },
];

/** FNV-1a of the frame id: the sub-millisecond part of the point's timestamp (docs/telemetry.md). */
function idHash(id: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i += 1) hash = Math.imul(hash ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return hash;
}

export function inferenceTimestampNs(captureTs: number, id: string): bigint {
  return BigInt(Math.round(captureTs)) * 1_000_000n + BigInt(idHash(id) % 1_000_000);
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? 0;
}

/** Runs every flow of `run`: its frames' results and its stats intervals. */
export function syntheticRuns(run: SyntheticRun): SyntheticRuns {
  const next = random(run.seed ?? 20_210_901);
  const configChanges = new Map<string, { atMs: number; version: number }[]>();
  const modelVersions = new Map<string, { atMs: number; version: string }[]>();
  const endMs = run.startMs + run.durationMs;
  // Load waves: the queue builds up and drains, pushing the controller to shallower exits and some sheds.
  const load = (t: number): number => 0.5 + 0.5 * Math.sin((2 * Math.PI * (t - run.startMs)) / (7 * 60_000));

  const flows = run.flows.map((flow): SyntheticFlowRun => {
    configChanges.set(
      flow.name,
      flow.configs.slice(1).map((config) => ({ atMs: run.startMs + config.atMs, version: config.version })),
    );
    modelVersions.set(
      flow.name,
      flow.models.map((model) => ({ atMs: run.startMs + model.atMs, version: model.version })),
    );
    const modelAt = (offsetMs: number): string => {
      let current = flow.models[0]?.version;
      for (const model of flow.models) if (model.atMs <= offsetMs) current = model.version;
      if (current === undefined) throw new Error(`flow ${flow.name} has no model version`);
      return current;
    };
    const configAt = (offsetMs: number): ConfigChange => {
      let current = flow.configs[0];
      for (const config of flow.configs) if (config.atMs <= offsetMs) current = config;
      if (current === undefined) throw new Error(`flow ${flow.name} has no config`);
      return current;
    };
    const results: FrameResult[] = [];
    const intervals: StatsInterval[] = [];
    // The write-ahead log draws from a generator of its own, so the frames stay what they were without it.
    const walNext = random((run.seed ?? 20_210_901) + flow.name.length);
    const pointsPerInterval = Math.round((flow.fps * run.statsIntervalMs) / 1_000) + 1;
    let outageBacklog = 0;
    for (let intervalEnd = run.startMs + run.statsIntervalMs; intervalEnd <= endMs; intervalEnd += run.statsIntervalMs) {
      const config = configAt(intervalEnd - run.startMs);
      const offset = intervalEnd - run.startMs;
      const outage = flow.influxOutage !== undefined && offset > flow.influxOutage.atMs && offset <= flow.influxOutage.atMs + flow.influxOutage.durationMs;
      // InfluxDB away: nothing leaves the log. Back: the backlog drains within the interval.
      outageBacklog = outage ? outageBacklog + pointsPerInterval : 0;
      const flowState: FlowState = {
        deadlineMs: config.deadlineMs,
        queueDepth: Math.round(load(intervalEnd) * 6 * next()),
        configVersion: config.version,
        model: { name: flow.model, version: modelAt(intervalEnd - run.startMs), exitCount: flow.exitInferMs.length },
      };
      const bufferedPoints = Math.round(next() * 40) + outageBacklog;
      const droppedInInterval = next() < 0.05 ? 1 + Math.floor(next() * 3) : 0;
      const commits = Math.max(1, Math.round(pointsPerInterval / (1 + 3 * walNext())));
      const fsyncMeanMs = 0.3 + 1.5 * walNext();
      const wal = {
        bytes: 512 + 260 * bufferedPoints,
        segments: 1 + Math.floor(bufferedPoints / 500),
        commits: { commits, records: pointsPerInterval, seconds: (commits * fsyncMeanMs) / 1_000, maxSeconds: (fsyncMeanMs * (1 + 4 * walNext())) / 1_000 },
        // Half-way through the outage the log nears its bound: intake is held back for most of each interval.
        intakeHeldSeconds: outage && outageBacklog > (pointsPerInterval * (flow.influxOutage?.durationMs ?? 0)) / run.statsIntervalMs / 2 ? ((0.5 + 0.5 * walNext()) * run.statsIntervalMs) / 1_000 : 0,
        replayedRecords: intervals.length === 0 ? flow.walReplayed : 0,
      };
      intervals.push({ endMs: intervalEnd, flowState, sinkState: { bufferedPoints, droppedInInterval, wal } });
    }

    const periodMs = 1_000 / flow.fps;
    let frameNumber = 0;
    for (let captureTs = run.startMs + next() * periodMs; captureTs < endMs; captureTs += periodMs * (0.8 + 0.4 * next())) {
      frameNumber += 1;
      const config = configAt(captureTs - run.startMs);
      const pressure = load(captureTs);
      const networkMs = flow.deviceClock ? 1 + 3 * next() : 0;
      const queueMs = pressure * pressure * config.deadlineMs * 0.6 * next();
      const label = flow.labelled ? Math.floor(next() * flow.classes.length) : undefined;
      const base = {
        flow: flow.name,
        id: `${flow.name}-${frameNumber}`,
        captureTs,
        captureTsSource: flow.deviceClock ? ('device' as const) : ('receive' as const),
        model: flow.model,
        modelVersion: modelAt(captureTs - run.startMs),
        engine: flow.engine,
        deadlineMs: config.deadlineMs,
        configVersion: config.version,
        ...(label === undefined ? {} : { label }),
        // Devices with clocks of their own have an estimated skew (a few ms either way here), attributed to the device
        // that sent the frame: two per flow, taking turns.
        ...(flow.deviceClock ? { deviceClockSkewMs: 6 * next() - 3, device: `${flow.name}/device-${1 + (frameNumber % 2)}` } : {}),
      };
      const roll = next();
      if (roll < 0.01 + 0.04 * pressure) {
        const which = next();
        const reason = which < 0.6 ? 'no-slack' : which < 0.8 ? 'overload' : 'queue-full';
        results.push({ ...base, outcome: 'shed', reason, queueMs, inferMs: 0, e2eMs: networkMs + queueMs, deadlineMet: false });
        continue;
      }
      if (roll > 0.992) {
        const reason = flow.name.startsWith('camera') ? 'bad-jpeg' : 'bad-window';
        results.push({ ...base, outcome: 'error', reason, queueMs: 0, inferMs: 0, e2eMs: networkMs + 0.3, deadlineMet: false });
        continue;
      }
      // The controller's pick: the deepest exit whose cost fits the remaining slack, sometimes stopping earlier on
      // a confident early exit; when nothing fits, exit 1 answers late.
      const slack = config.deadlineMs - networkMs - queueMs;
      let exit = 1;
      flow.exitInferMs.forEach((cost, index) => {
        if (cost * 1.1 <= slack) exit = index + 1;
      });
      if (exit > 1 && next() < 0.25) exit -= 1;
      const inferMs = (flow.exitInferMs[exit - 1] ?? 1) * (0.85 + 0.5 * next());
      const e2eMs = networkMs + queueMs + inferMs;
      const deadlineMet = e2eMs <= config.deadlineMs;
      const truth = label ?? Math.floor(next() * flow.classes.length);
      const classIndex = next() < 0.6 + 0.08 * exit ? truth : Math.floor(next() * flow.classes.length);
      results.push({
        ...base,
        outcome: deadlineMet ? 'ok' : 'late',
        exit,
        classIndex,
        className: flow.classes[classIndex] ?? 'unknown',
        confidence: Math.min(0.999, 0.45 + 0.12 * exit + 0.2 * next()),
        queueMs,
        inferMs,
        e2eMs,
        deadlineMs: config.deadlineMs,
        deadlineMet,
      });
    }
    return { flow, results, intervals };
  });
  return { flows, fromMs: run.startMs, toMs: endMs, configChanges, modelVersions };
}

/** The `inference` point of a result, per docs/telemetry.md (written here, not borrowed from the sink). */
function inferencePointOf(result: FrameResult): TelemetryPoint {
  const fields: TelemetryPoint['fields'] = {
    id: result.id,
    queue_ms: result.queueMs,
    infer_ms: result.inferMs,
    e2e_ms: result.e2eMs,
    deadline_ms: result.deadlineMs,
    deadline_met: result.deadlineMet,
    config_version: BigInt(result.configVersion),
    capture_ts_source: result.captureTsSource,
  };
  if (result.reason !== undefined) fields.reason = result.reason;
  if (result.deviceClockSkewMs !== undefined) fields.device_clock_skew_ms = result.deviceClockSkewMs;
  if (result.device !== undefined) fields.device = result.device;
  if (result.className !== undefined) fields.class = result.className;
  if (result.classIndex !== undefined) fields.class_index = BigInt(result.classIndex);
  if (result.confidence !== undefined) fields.confidence = result.confidence;
  if (result.label !== undefined) {
    fields.label = BigInt(result.label);
    if (result.classIndex !== undefined) fields.correct = result.classIndex === result.label;
  }
  return {
    measurement: 'inference',
    tags: {
      flow: result.flow,
      model: result.model,
      engine: result.engine,
      exit: result.exit === undefined ? 'none' : String(result.exit),
      outcome: result.outcome,
      ...(result.modelVersion === undefined ? {} : { model_version: result.modelVersion }),
    },
    fields,
    timestampNs: inferenceTimestampNs(result.captureTs, result.id),
  };
}

/** The `flow_stats` point of one interval, per docs/telemetry.md. */
function flowStatsPointOf(run: SyntheticFlowRun, interval: StatsInterval, results: FrameResult[], intervalMs: number): TelemetryPoint {
  const count = (outcome: FrameResult['outcome']): number => results.filter((result) => result.outcome === outcome).length;
  const answered = results.filter((result) => result.outcome === 'ok' || result.outcome === 'late');
  const sorted = answered.map((result) => result.e2eMs).sort((a, b) => a - b);
  const fields: TelemetryPoint['fields'] = {
    frames: BigInt(results.length),
    ok: BigInt(count('ok')),
    late: BigInt(count('late')),
    shed: BigInt(count('shed')),
    error: BigInt(count('error')),
    throughput_fps: results.length / (intervalMs / 1_000),
    deadline_ms: interval.flowState.deadlineMs,
    queue_depth: BigInt(interval.flowState.queueDepth),
    config_version: BigInt(interval.flowState.configVersion),
    sink_buffer: BigInt(interval.sinkState.bufferedPoints),
    sink_dropped: BigInt(interval.sinkState.droppedInInterval),
  };
  const wal = interval.sinkState.wal;
  fields.wal_bytes = BigInt(wal.bytes);
  fields.wal_segments = BigInt(wal.segments);
  fields.wal_commits = BigInt(wal.commits.commits);
  fields.wal_committed = BigInt(wal.commits.records);
  fields.wal_fsync_mean_ms = (wal.commits.seconds / wal.commits.commits) * 1_000;
  fields.wal_fsync_max_ms = wal.commits.maxSeconds * 1_000;
  fields.wal_intake_held_ms = wal.intakeHeldSeconds * 1_000;
  fields.wal_replayed = BigInt(wal.replayedRecords);
  if (results.length > 0) fields.attainment = count('ok') / results.length;
  if (sorted.length > 0) {
    fields.p50_ms = percentile(sorted, 50);
    fields.p95_ms = percentile(sorted, 95);
    fields.p99_ms = percentile(sorted, 99);
  }
  run.flow.exitInferMs.forEach((_, index) => {
    fields[`exit_${index + 1}`] = BigInt(answered.filter((result) => result.exit === index + 1).length);
  });
  return { measurement: 'flow_stats', tags: { flow: run.flow.name, model: interval.flowState.model.name, model_version: interval.flowState.model.version }, fields, timestampNs: BigInt(interval.endMs) * 1_000_000n };
}

/** Results of `run` grouped by stats interval (a result belongs to the interval whose end follows its capture). */
export function resultsByInterval(run: SyntheticFlowRun): { interval: StatsInterval; results: FrameResult[] }[] {
  let index = 0;
  return run.intervals.map((interval) => {
    const results: FrameResult[] = [];
    while (index < run.results.length && (run.results[index]?.captureTs ?? Infinity) < interval.endMs) results.push(run.results[index++] as FrameResult);
    return { interval, results };
  });
}

export function syntheticTelemetry(run: SyntheticRun): SyntheticTelemetry {
  const runs = syntheticRuns(run);
  const points: TelemetryPoint[] = [];
  for (const flowRun of runs.flows) {
    points.push(...flowRun.results.map(inferencePointOf));
    for (const { interval, results } of resultsByInterval(flowRun)) points.push(flowStatsPointOf(flowRun, interval, results, run.statsIntervalMs));
  }
  return { points, fromMs: runs.fromMs, toMs: runs.toMs, configChanges: runs.configChanges, modelVersions: runs.modelVersions };
}

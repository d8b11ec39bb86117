import type { FrameResult, Outcome } from '../core/frame.ts';
import { msToNs, type InfluxPoint } from './influx-point.ts';
import type { WalInterval } from './wal-interval.ts';

export const FLOW_STATS_MEASUREMENT = 'flow_stats';
/** flow_stats declares exit_1..exit_N; models have a handful of exits, this bounds the schema. */
export const MAX_EXITS = 32;

export const FLOW_STATS_FIELD_TYPES: Record<string, 'integer' | 'float'> = {
  frames: 'integer',
  ok: 'integer',
  late: 'integer',
  shed: 'integer',
  error: 'integer',
  throughput_fps: 'float',
  attainment: 'float',
  p50_ms: 'float',
  p95_ms: 'float',
  p99_ms: 'float',
  deadline_ms: 'float',
  queue_depth: 'integer',
  config_version: 'integer',
  sink_buffer: 'integer',
  sink_dropped: 'integer',
  wal_bytes: 'integer',
  wal_segments: 'integer',
  wal_commits: 'integer',
  wal_committed: 'integer',
  wal_fsync_mean_ms: 'float',
  wal_fsync_max_ms: 'float',
  wal_intake_held_ms: 'float',
  wal_replayed: 'integer',
  ...Object.fromEntries(Array.from({ length: MAX_EXITS }, (_, index) => [`exit_${index + 1}`, 'integer'])),
};
export const FLOW_STATS_TAGS = ['flow', 'model', 'model_version'] as const;

/** The model serving a flow: it changes when a model is swapped in live (docs/model-swaps.md). */
export interface ServingModel {
  /** Manifest name: the `model` tag. */
  name: string;
  /** Content hash of its folder: the `model_version` tag. */
  version: string;
  /** Its number of exits (exit_1..exit_N are always written). */
  exitCount: number;
}

/** What the pipeline knows at the end of an interval and the results cannot tell. */
export interface FlowState {
  deadlineMs: number;
  queueDepth: number;
  configVersion: number;
  /** The model serving the flow at the end of the interval: the point's `model` and `model_version` tags. */
  model: ServingModel;
}

/** What the sink knows at the end of an interval. */
export interface SinkState {
  bufferedPoints: number;
  droppedInInterval: number;
  /** Its write-ahead log over the interval (the `wal_*` fields; left out when absent). */
  wal?: WalInterval;
}

/**
 * Counts the results of one flow over an interval and turns them into its `flow_stats` point (docs/telemetry.md).
 * The serving model's exit count makes every exit_k field present, zeros included, so Grafana sums work. The model
 * tags are read at the end of each interval, not fixed at start: after a live swap the points name the new model (an
 * interval that spans the swap is tagged with the new one).
 */
export class FlowStatsAggregator {
  private counts: Record<Outcome, number> = { ok: 0, late: 0, shed: 0, error: 0 };
  private exits = new Map<number, number>();
  private latencies: number[] = [];
  private intervalStart: number;

  constructor(
    private readonly flow: string,
    startTs: number,
  ) {
    this.intervalStart = startTs;
  }

  record(result: FrameResult): void {
    this.counts[result.outcome] += 1;
    if (result.exit !== undefined) this.exits.set(result.exit, (this.exits.get(result.exit) ?? 0) + 1);
    const answered = result.outcome === 'ok' || result.outcome === 'late';
    if (answered && Number.isFinite(result.e2eMs)) this.latencies.push(result.e2eMs);
  }

  /** The point for the interval ending at `endTs`; starts the next interval. */
  close(endTs: number, flowState: FlowState, sinkState: SinkState): InfluxPoint {
    const frames = this.counts.ok + this.counts.late + this.counts.shed + this.counts.error;
    const seconds = Math.max(endTs - this.intervalStart, 1) / 1000;
    const fields: InfluxPoint['fields'] = {
      frames,
      ...this.counts,
      throughput_fps: frames / seconds,
      deadline_ms: flowState.deadlineMs,
      queue_depth: flowState.queueDepth,
      config_version: flowState.configVersion,
      sink_buffer: sinkState.bufferedPoints,
      sink_dropped: sinkState.droppedInInterval,
    };
    if (frames > 0) fields.attainment = this.counts.ok / frames;
    if (sinkState.wal !== undefined) Object.assign(fields, walFields(sinkState.wal));
    const exits = Math.min(Math.max(flowState.model.exitCount, ...this.exits.keys(), 0), MAX_EXITS);
    for (let exit = 1; exit <= exits; exit += 1) fields[`exit_${exit}`] = this.exits.get(exit) ?? 0;
    if (this.latencies.length > 0) {
      const sorted = Float64Array.from(this.latencies).sort();
      fields.p50_ms = percentile(sorted, 0.5);
      fields.p95_ms = percentile(sorted, 0.95);
      fields.p99_ms = percentile(sorted, 0.99);
    }
    this.counts = { ok: 0, late: 0, shed: 0, error: 0 };
    this.exits = new Map();
    this.latencies = [];
    this.intervalStart = endTs;
    return { measurement: FLOW_STATS_MEASUREMENT, tags: { flow: this.flow, model: flowState.model.name, model_version: flowState.model.version }, fields, timestamp: msToNs(endTs) };
  }
}

/** The `wal_*` fields of an interval; fsync times only when there was a commit to time. */
function walFields(wal: WalInterval): InfluxPoint['fields'] {
  const fields: InfluxPoint['fields'] = {
    wal_bytes: wal.bytes,
    wal_segments: wal.segments,
    wal_intake_held_ms: wal.intakeHeldSeconds * 1000,
    wal_replayed: wal.replayedRecords,
  };
  const commits = wal.commits;
  if (commits !== undefined) {
    fields.wal_commits = commits.commits;
    fields.wal_committed = commits.records;
    if (commits.commits > 0) {
      fields.wal_fsync_mean_ms = (commits.seconds / commits.commits) * 1000;
      fields.wal_fsync_max_ms = commits.maxSeconds * 1000;
    }
  }
  return fields;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: ArrayLike<number>, quantile: number): number {
  const rank = Math.max(1, Math.ceil(quantile * sorted.length));
  return sorted[rank - 1] as number;
}

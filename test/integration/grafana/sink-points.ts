import { FLOW_STATS_FIELD_TYPES, FlowStatsAggregator } from '../../../src/sinks/flow-stats.ts';
import type { InfluxPoint } from '../../../src/sinks/influx-point.ts';
import { INFERENCE_FIELD_TYPES, inferencePoint } from '../../../src/sinks/inference-point.ts';
import type { FieldValue, TelemetryPoint } from './influx-loader.ts';
import { resultsByInterval, type SyntheticRuns } from './synthetic-telemetry.ts';

/**
 * The points the InfluxDB sink itself builds for the synthetic runs (its `inferencePoint` and
 * `FlowStatsAggregator`), typed the way its client declares the fields, so the dashboards are also checked against
 * what the sink really writes.
 */

const FIELD_TYPES: Record<string, Record<string, string>> = { inference: INFERENCE_FIELD_TYPES, flow_stats: FLOW_STATS_FIELD_TYPES };

function toTelemetryPoint(point: InfluxPoint): TelemetryPoint {
  const types = FIELD_TYPES[point.measurement] ?? {};
  const fields: Record<string, FieldValue> = {};
  for (const [name, value] of Object.entries(point.fields)) {
    fields[name] = types[name] === 'integer' && typeof value === 'number' ? BigInt(Math.round(value)) : value;
  }
  return { measurement: point.measurement, tags: point.tags, fields, timestampNs: BigInt(point.timestamp) };
}

export function sinkBuiltPoints(runs: SyntheticRuns): TelemetryPoint[] {
  const points: InfluxPoint[] = [];
  for (const run of runs.flows) {
    points.push(...run.results.map(inferencePoint));
    const aggregator = new FlowStatsAggregator(run.flow.name, runs.fromMs);
    for (const { interval, results } of resultsByInterval(run)) {
      for (const result of results) aggregator.record(result);
      points.push(aggregator.close(interval.endMs, interval.flowState, interval.sinkState));
    }
  }
  return points.map(toTelemetryPoint);
}

import type { FrameResult } from '../core/frame.ts';
import { frameTimestampNs, type InfluxPoint } from './influx-point.ts';

export const INFERENCE_MEASUREMENT = 'inference';

/** Field types of `inference` (docs/telemetry.md); the client declares them so integers are written as integers. */
export const INFERENCE_FIELD_TYPES = {
  id: 'string',
  class: 'string',
  class_index: 'integer',
  confidence: 'float',
  label: 'integer',
  correct: 'boolean',
  reason: 'string',
  queue_ms: 'float',
  infer_ms: 'float',
  e2e_ms: 'float',
  deadline_ms: 'float',
  deadline_met: 'boolean',
  config_version: 'integer',
  capture_ts_source: 'string',
  device_clock_skew_ms: 'float',
  device: 'string',
} as const;
export const INFERENCE_TAGS = ['flow', 'model', 'engine', 'exit', 'outcome', 'model_version'] as const;

/** One `inference` point per frame, exactly per docs/telemetry.md. Non-finite timings are left out, not written. */
export function inferencePoint(result: FrameResult): InfluxPoint {
  const fields: InfluxPoint['fields'] = { id: result.id };
  if (result.className !== undefined) fields.class = result.className;
  if (result.classIndex !== undefined) fields.class_index = result.classIndex;
  if (result.confidence !== undefined && Number.isFinite(result.confidence)) fields.confidence = result.confidence;
  if (result.label !== undefined) {
    fields.label = result.label;
    if (result.classIndex !== undefined) fields.correct = result.classIndex === result.label;
  }
  if (result.reason !== undefined) fields.reason = result.reason;
  if (Number.isFinite(result.queueMs)) fields.queue_ms = result.queueMs;
  if (Number.isFinite(result.inferMs)) fields.infer_ms = result.inferMs;
  if (Number.isFinite(result.e2eMs)) fields.e2e_ms = result.e2eMs;
  if (Number.isFinite(result.deadlineMs)) fields.deadline_ms = result.deadlineMs;
  fields.deadline_met = result.deadlineMet;
  fields.config_version = result.configVersion;
  fields.capture_ts_source = result.captureTsSource;
  if (result.deviceClockSkewMs !== undefined && Number.isFinite(result.deviceClockSkewMs)) fields.device_clock_skew_ms = result.deviceClockSkewMs;
  // A field, not a tag: series stay per flow, model, exit and outcome however many devices send (docs/telemetry.md).
  if (result.device !== undefined) fields.device = result.device;
  // In key order, as line protocol wants them (it then need not sort them for every frame).
  const tags: InfluxPoint['tags'] = {
    engine: result.engine,
    exit: result.exit === undefined ? 'none' : String(result.exit),
    flow: result.flow,
    model: result.model,
  };
  if (result.modelVersion !== undefined) tags.model_version = result.modelVersion;
  tags.outcome = result.outcome;
  return {
    measurement: INFERENCE_MEASUREMENT,
    tags,
    fields,
    timestamp: frameTimestampNs(result.captureTs, result.id),
  };
}

import { describe, expect, it } from 'vitest';
import { FLOW_STATS_FIELD_TYPES, FlowStatsAggregator, percentile } from '../../src/sinks/flow-stats.ts';
import { inferencePoint } from '../../src/sinks/inference-point.ts';
import { checkPoint, fnv1a32, frameTimestampNs } from '../../src/sinks/influx-point.ts';
import { lineProtocol } from '../../src/sinks/line-protocol.ts';
import { InvalidPointError } from '../../src/sinks/sink-errors.ts';
import { result } from './fakes.ts';

describe('inference points (docs/telemetry.md)', () => {
  it('has the documented tags and fields', () => {
    const point = inferencePoint(result('f-1', { label: 1 }));
    expect(point.measurement).toBe('inference');
    expect(point.tags).toEqual({ flow: 'line1', model: 'neu-surface', engine: 'onnx', exit: '2', outcome: 'ok', model_version: '3fa9c2d1e0b4' });
    expect(point.fields).toEqual({
      id: 'f-1',
      class: 'inclusion',
      class_index: 1,
      confidence: 0.93,
      label: 1,
      correct: true,
      queue_ms: 1.5,
      infer_ms: 4.25,
      e2e_ms: 12.5,
      deadline_ms: 50,
      deadline_met: true,
      config_version: 3,
      capture_ts_source: 'device',
    });
  });

  it('writes shed and error frames with exit none and a reason, without class fields', () => {
    const shed = result('f-2', { outcome: 'shed', reason: 'no-slack', exit: undefined, classIndex: undefined, className: undefined, confidence: undefined, inferMs: 0, deadlineMet: false });
    const point = inferencePoint(shed);
    expect(point.tags).toMatchObject({ exit: 'none', outcome: 'shed' });
    expect(point.fields).toMatchObject({ reason: 'no-slack', deadline_met: false });
    expect(point.fields).not.toHaveProperty('class');
    expect(point.fields).not.toHaveProperty('correct');
  });

  it("carries the device's clock skew once it is estimated", () => {
    expect(inferencePoint(result('s', { deviceClockSkewMs: 299.5 })).fields).toMatchObject({ device_clock_skew_ms: 299.5 });
    expect(inferencePoint(result('s', { deviceClockSkewMs: Number.NaN })).fields).not.toHaveProperty('device_clock_skew_ms');
  });

  it('carries the device the skew was attributed to as a string field, never a tag (series stay bounded)', () => {
    const point = inferencePoint(result('cam7-0001', { deviceClockSkewMs: 12, device: 'cam7' }));
    expect(point.fields).toMatchObject({ device: 'cam7', device_clock_skew_ms: 12 });
    expect(point.tags).not.toHaveProperty('device');
    expect(lineProtocol(inferencePoint(result('x', { device: 'plant/line 1,cam="7"' })))).toContain(',device="plant/line 1,cam=\\"7\\"" ');
    expect(inferencePoint(result('y')).fields).not.toHaveProperty('device');
  });

  it('leaves out non-finite timings instead of writing a batch-breaking NaN', () => {
    expect(inferencePoint(result('x', { e2eMs: Number.NaN })).fields).not.toHaveProperty('e2e_ms');
  });

  it('timestamps deterministically: captureTs in ns plus hash(id) mod 10^6', () => {
    const ts = frameTimestampNs(1_764_000_000_123, 'frame-7');
    expect(ts).toBe((1_764_000_000_123n * 1_000_000n + BigInt(fnv1a32('frame-7') % 1_000_000)).toString());
    expect(frameTimestampNs(1_764_000_000_123, 'frame-7')).toBe(ts);
    expect(frameTimestampNs(1_764_000_000_123, 'frame-8')).not.toBe(ts);
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
  });

  it('writes the same timestamp digits as BigInt arithmetic, for any capture time and any id', () => {
    const reference = (captureTs: number, id: string): string => {
      let hash = 0x811c9dc5;
      for (const byte of Buffer.from(id, 'utf8')) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
      return (BigInt(Math.floor(captureTs)) * 1_000_000n + BigInt(hash % 1_000_000)).toString();
    };
    const ids = ['frame-7', 'cam1-000042', '', 'ü-kamera-3', 'x'.repeat(300), '\u{1F4F7}-emoji'];
    const times = [1, 999, 1_764_000_000_123, 1_764_000_000_123.9, 0, 0.5, -5, Number.MAX_SAFE_INTEGER + 2];
    for (const id of ids) for (const captureTs of times) expect(frameTimestampNs(captureTs, id), `${captureTs} ${id}`).toBe(reference(captureTs, id));
  });

  it('refuses tags line protocol cannot carry', () => {
    for (const model of ['', 'a\nb', 'a\rb', 'ends\\']) {
      expect(() => checkPoint(inferencePoint(result('x', { model })))).toThrow(InvalidPointError);
    }
    expect(() => checkPoint(inferencePoint(result('x', { model: 'comma, space = "quote" \\ back ü' })))).not.toThrow();
    expect(() => checkPoint(inferencePoint(result('x'.repeat(70_000))))).toThrow(/64 KiB/);
  });
});

describe('flow_stats points', () => {
  it('counts outcomes, exits and latency percentiles over an interval', () => {
    const stats = new FlowStatsAggregator('line1', 1_000);
    const model = { name: 'neu-surface', version: '3fa9c2d1e0b4', exitCount: 3 };
    for (let index = 1; index <= 100; index += 1) stats.record(result(`f${index}`, { e2eMs: index, exit: index <= 60 ? 1 : 3 }));
    stats.record(result('late', { outcome: 'late', e2eMs: 200, exit: 1 }));
    stats.record(result('shed', { outcome: 'shed', exit: undefined, e2eMs: 0 }));
    stats.record(result('err', { outcome: 'error', exit: undefined, e2eMs: 0 }));
    const point = stats.close(6_000, { deadlineMs: 50, queueDepth: 4, configVersion: 3, model }, { bufferedPoints: 12, droppedInInterval: 1 });
    expect(point).toMatchObject({ measurement: 'flow_stats', tags: { flow: 'line1', model: 'neu-surface', model_version: '3fa9c2d1e0b4' }, timestamp: '6000000000' });
    expect(point.fields).toEqual({
      frames: 103,
      ok: 100,
      late: 1,
      shed: 1,
      error: 1,
      throughput_fps: 103 / 5,
      attainment: 100 / 103,
      exit_1: 61,
      exit_2: 0,
      exit_3: 40,
      p50_ms: 51,
      p95_ms: 96,
      p99_ms: 100,
      deadline_ms: 50,
      queue_depth: 4,
      config_version: 3,
      sink_buffer: 12,
      sink_dropped: 1,
    });
    const next = stats.close(11_000, { deadlineMs: 50, queueDepth: 0, configVersion: 3, model }, { bufferedPoints: 0, droppedInInterval: 0 });
    expect(next.fields).toMatchObject({ frames: 0, ok: 0, exit_1: 0, throughput_fps: 0 });
    expect(next.fields).not.toHaveProperty('attainment');
    expect(next.fields).not.toHaveProperty('p50_ms');
  });

  it('carries the write-ahead log over the interval: backlog at its end, commits and holds in it, replays once', () => {
    const stats = new FlowStatsAggregator('line1', 0);
    const flow = { deadlineMs: 50, queueDepth: 0, configVersion: 1, model: { name: 'neu-surface', version: '3fa9c2d1e0b4', exitCount: 3 } };
    const wal = { bytes: 40_960, segments: 2, intakeHeldSeconds: 1.25, replayedRecords: 17 };
    const point = stats.close(5_000, flow, { bufferedPoints: 120, droppedInInterval: 0, wal: { ...wal, commits: { commits: 4, records: 100, seconds: 0.01, maxSeconds: 0.004 } } });
    expect(point.fields).toMatchObject({
      sink_buffer: 120,
      wal_bytes: 40_960,
      wal_segments: 2,
      wal_commits: 4,
      wal_committed: 100,
      wal_fsync_mean_ms: 2.5,
      wal_fsync_max_ms: 4,
      wal_intake_held_ms: 1_250,
      wal_replayed: 17,
    });
    // No commit in the interval: nothing to time, so no fsync fields (not a zero that reads as a fast disk).
    const idle = stats.close(10_000, flow, { bufferedPoints: 0, droppedInInterval: 0, wal: { ...wal, replayedRecords: 0, commits: { commits: 0, records: 0, seconds: 0, maxSeconds: 0 } } });
    expect(idle.fields).toMatchObject({ wal_commits: 0, wal_committed: 0, wal_replayed: 0 });
    expect(idle.fields).not.toHaveProperty('wal_fsync_mean_ms');
    expect(idle.fields).not.toHaveProperty('wal_fsync_max_ms');
    // Commits nobody observed are left out rather than written as none.
    const unobserved = stats.close(15_000, flow, { bufferedPoints: 0, droppedInInterval: 0, wal });
    expect(unobserved.fields).toHaveProperty('wal_bytes', 40_960);
    expect(unobserved.fields).not.toHaveProperty('wal_commits');
    // Every wal_* field is declared, so integers are written as integers.
    for (const name of Object.keys(point.fields)) expect(FLOW_STATS_FIELD_TYPES[name], name).toBeDefined();
    expect(lineProtocol(point)).toContain('wal_bytes=40960i');
  });

  it('names the model serving at the end of each interval: after a live swap, the new one and its exits', () => {
    const stats = new FlowStatsAggregator('line1', 1_000);
    stats.record(result('old', { exit: 3 }));
    const state = { deadlineMs: 50, queueDepth: 0, configVersion: 1 };
    const sink = { bufferedPoints: 0, droppedInInterval: 0 };
    const before = stats.close(2_000, { ...state, model: { name: 'neu-surface', version: '3fa9c2d1e0b4', exitCount: 3 } }, sink);
    expect(before.tags).toEqual({ flow: 'line1', model: 'neu-surface', model_version: '3fa9c2d1e0b4' });
    stats.record(result('new', { exit: 2, model: 'neu-surface-wide', modelVersion: '77aa00bb11cc' }));
    const after = stats.close(3_000, { ...state, model: { name: 'neu-surface-wide', version: '77aa00bb11cc', exitCount: 2 } }, sink);
    expect(after.tags).toEqual({ flow: 'line1', model: 'neu-surface-wide', model_version: '77aa00bb11cc' });
    expect(after.fields).toMatchObject({ frames: 1, exit_1: 0, exit_2: 1 });
    expect(after.fields).not.toHaveProperty('exit_3');
  });

  it('uses nearest-rank percentiles', () => {
    expect(percentile(Float64Array.from([1, 2, 3, 4]), 0.5)).toBe(2);
    expect(percentile(Float64Array.from([7]), 0.99)).toBe(7);
  });
});

describe('InfluxDB error classification', () => {
  it('retries network errors, timeouts, 5xx, 408, 429 and 401/403/404; not other 4xx', async () => {
    const { classify, InfluxHttpError } = await import('../../src/sinks/influx-client.ts');
    const http = (status: number, message = 'x') => new InfluxHttpError(status, message);
    expect(classify(Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } }), 'writing')).toMatchObject({ retryable: true, message: expect.stringContaining('ECONNREFUSED') });
    for (const status of [503, 429, 408, 401, 403, 404]) expect(classify(http(status), 'writing')).toMatchObject({ retryable: true, status });
    const refused = classify(http(400, 'partial write: points beyond retention policy dropped=3'), 'writing');
    expect(refused).toMatchObject({ retryable: false, status: 400, droppedPoints: 3, code: 'EDGEKE_INFLUX_REJECTED' });
    expect(classify(http(413), 'writing')).toMatchObject({ retryable: false, droppedPoints: undefined });
  });
});

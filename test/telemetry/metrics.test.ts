import { afterEach, describe, expect, it } from 'vitest';
import type { FrameResult } from '../../src/core/frame.ts';
import { EdgekeMetrics, LATENCY_BUCKETS_SECONDS } from '../../src/telemetry/metrics.ts';

function result(overrides: Partial<FrameResult>): FrameResult {
  return {
    flow: 'camera-neu',
    id: 'f-1',
    captureTs: 1_700_000_000_000,
    captureTsSource: 'device',
    model: 'neu-multiexit',
    engine: 'onnx',
    outcome: 'ok',
    exit: 2,
    classIndex: 3,
    className: 'patches',
    confidence: 0.93,
    queueMs: 4,
    inferMs: 11,
    e2eMs: 22,
    deadlineMs: 50,
    deadlineMet: true,
    configVersion: 1,
    ...overrides,
  };
}

/** The value of one sample line of the exposition, found by name and exact label set. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labelText = line.slice(line.indexOf('{') + 1, line.indexOf('}'));
    const present = labelText === '' ? [] : labelText.split(',');
    if (present.length === wanted.length && wanted.every((pair) => present.includes(pair))) return Number(line.split(' ').at(-1));
  }
  return undefined;
}

const open: EdgekeMetrics[] = [];
function metrics(defaultMetrics = false): EdgekeMetrics {
  const created = new EdgekeMetrics({ defaultMetrics });
  open.push(created);
  return created;
}
afterEach(() => {
  for (const created of open.splice(0)) created.close();
});

describe('EdgekeMetrics', () => {
  it('counts every outcome with its reason, and exits and latencies of answered frames only', async () => {
    const m = metrics();
    m.recordResult(result({ e2eMs: 22 }));
    m.recordResult(result({ outcome: 'late', exit: 1, e2eMs: 61, deadlineMet: false }));
    m.recordResult(result({ outcome: 'shed', reason: 'no-slack', exit: undefined, e2eMs: 70 }));
    m.recordResult(result({ outcome: 'error', reason: 'bad-jpeg', exit: undefined }));
    m.recordResult(result({ flow: 'bearing-cwru', exit: 3, e2eMs: 4, inferMs: 2 }));
    const { body, contentType } = await m.exposition();

    expect(contentType).toContain('text/plain');
    expect(sample(body, 'edgeke_frames_total', { flow: 'camera-neu', outcome: 'ok', reason: 'none' })).toBe(1);
    expect(sample(body, 'edgeke_frames_total', { flow: 'camera-neu', outcome: 'late', reason: 'none' })).toBe(1);
    expect(sample(body, 'edgeke_frames_total', { flow: 'camera-neu', outcome: 'shed', reason: 'no-slack' })).toBe(1);
    expect(sample(body, 'edgeke_frames_total', { flow: 'camera-neu', outcome: 'error', reason: 'bad-jpeg' })).toBe(1);
    expect(sample(body, 'edgeke_exits_total', { flow: 'camera-neu', exit: '2' })).toBe(1);
    expect(sample(body, 'edgeke_exits_total', { flow: 'camera-neu', exit: '1' })).toBe(1);
    expect(body).not.toContain('exit="none"');
    // 22 ms lands in the 30 ms bucket, 61 ms (late) in the 75 ms bucket; the shed frame's 70 ms is not observed.
    expect(sample(body, 'edgeke_frame_e2e_latency_seconds_bucket', { flow: 'camera-neu', outcome: 'ok', le: '0.02' })).toBe(0);
    expect(sample(body, 'edgeke_frame_e2e_latency_seconds_bucket', { flow: 'camera-neu', outcome: 'ok', le: '0.03' })).toBe(1);
    expect(sample(body, 'edgeke_frame_e2e_latency_seconds_count', { flow: 'camera-neu', outcome: 'late' })).toBe(1);
    expect(sample(body, 'edgeke_frame_e2e_latency_seconds_count', { flow: 'camera-neu', outcome: 'shed' })).toBeUndefined();
    expect(sample(body, 'edgeke_frame_queue_latency_seconds_count', { flow: 'camera-neu' })).toBe(2);
    expect(sample(body, 'edgeke_frame_inference_latency_seconds_sum', { flow: 'bearing-cwru', exit: '3' })).toBe(0.002);
    for (const edge of LATENCY_BUCKETS_SECONDS) expect(body).toContain(`le="${edge}"`);
  });

  it('reports gauges for queues, sources, config, model and sinks', async () => {
    const m = metrics();
    m.setQueueDepth('camera-neu', 7);
    m.setWorkBudgetScale('camera-neu', 0.64);
    m.setSourceConnected('camera-neu', 'mqtt', true);
    m.setSourceConnected('camera-neu', 'mqtt', false);
    m.setSourceConnected('bearing-cwru', 'opcua:plc-1', true);
    m.setFlowConfig('camera-neu', { version: 3, deadlineMs: 40 });
    m.setModelLoaded('neu-multiexit', 'onnx', true);
    m.setSinkBuffer('influxdb', 120);
    m.recordSinkDropped('influxdb', 'rejected', 5);
    m.recordSinkDropped('influxdb', 'rejected');
    m.recordSinkDropped('influxdb', 'buffer-full', 0);
    const { body } = await m.exposition();

    expect(sample(body, 'edgeke_queue_depth', { flow: 'camera-neu' })).toBe(7);
    expect(sample(body, 'edgeke_work_budget_ratio', { flow: 'camera-neu' })).toBe(0.64);
    expect(sample(body, 'edgeke_source_connected', { flow: 'camera-neu', source: 'mqtt' })).toBe(0);
    expect(sample(body, 'edgeke_source_connected', { flow: 'bearing-cwru', source: 'opcua:plc-1' })).toBe(1);
    expect(sample(body, 'edgeke_flow_config_version', { flow: 'camera-neu' })).toBe(3);
    expect(sample(body, 'edgeke_flow_deadline_seconds', { flow: 'camera-neu' })).toBe(0.04);
    expect(sample(body, 'edgeke_model_loaded', { model: 'neu-multiexit', engine: 'onnx' })).toBe(1);
    expect(sample(body, 'edgeke_sink_buffer_points', { sink: 'influxdb' })).toBe(120);
    expect(sample(body, 'edgeke_sink_dropped_points_total', { sink: 'influxdb', reason: 'rejected' })).toBe(6);
    expect(sample(body, 'edgeke_sink_dropped_points_total', { sink: 'influxdb', reason: 'buffer-full' })).toBeUndefined();
  });

  it('reports the model version serving from each folder and counts swap attempts by result and reason', async () => {
    const m = metrics();
    m.setModelVersion('models/cwru-bearing', 'onnx', { name: 'cwru-multiexit', version: '3fa9c2d1e0b4' });
    m.recordModelSwap('models/cwru-bearing', 'failed', 'load-failed');
    m.setModelVersion('models/cwru-bearing', 'onnx', { name: 'cwru-multiexit', version: '8c01d7e5a2f9' });
    m.recordModelSwap('models/cwru-bearing', 'ok');
    m.setModelVersion('models/neu-surface', 'onnx', { name: 'neu-multiexit', version: '5d2b9e0c7a13' });
    m.setModelVersion('models/neu-surface', 'onnx', undefined);
    const { body } = await m.exposition();
    const info = body.split('\n').filter((line) => line.startsWith('edgeke_model_version_info{'));
    // One series per folder and engine: the version swapped out is gone, and so is a released model's.
    expect(info).toEqual(['edgeke_model_version_info{folder="models/cwru-bearing",model="cwru-multiexit",engine="onnx",version="8c01d7e5a2f9"} 1']);
    expect(sample(body, 'edgeke_model_swaps_total', { folder: 'models/cwru-bearing', result: 'ok', reason: 'none' })).toBe(1);
    expect(sample(body, 'edgeke_model_swaps_total', { folder: 'models/cwru-bearing', result: 'failed', reason: 'load-failed' })).toBe(1);
  });

  it('reports device clock skew in seconds per device, untrusted capture times and clamped latencies', async () => {
    const m = metrics();
    m.setDeviceClockSkew('sensor', 'plant/a', 0.3);
    m.setDeviceClockSkew('sensor', 'plant/b', -5);
    m.recordCaptureTimeUntrusted('sensor');
    m.recordCaptureTimeUntrusted('sensor');
    m.recordLatencyClamped('sensor');
    const { body } = await m.exposition();
    expect(sample(body, 'edgeke_device_clock_skew_seconds', { flow: 'sensor', device: 'plant/a' })).toBe(0.3);
    expect(sample(body, 'edgeke_device_clock_skew_seconds', { flow: 'sensor', device: 'plant/b' })).toBe(-5);
    expect(sample(body, 'edgeke_capture_time_untrusted_total', { flow: 'sensor' })).toBe(2);
    expect(sample(body, 'edgeke_latency_clamped_total', { flow: 'sensor' })).toBe(1);
    m.removeFlow('sensor');
    expect((await m.exposition()).body).not.toContain('flow="sensor"');
  });

  it('forgets every series of a removed flow and keeps the others', async () => {
    const m = metrics();
    for (const flow of ['camera-neu', 'bearing-cwru']) {
      m.recordResult(result({ flow }));
      m.recordResult(result({ flow, outcome: 'shed', reason: 'queue-full', exit: undefined }));
      m.setQueueDepth(flow, 1);
      m.setSourceConnected(flow, 'mqtt', true);
      m.setFlowConfig(flow, { version: 1, deadlineMs: 50 });
    }
    m.removeFlow('camera-neu');
    const { body } = await m.exposition();
    expect(body).not.toContain('flow="camera-neu"');
    expect(sample(body, 'edgeke_frames_total', { flow: 'bearing-cwru', outcome: 'shed', reason: 'queue-full' })).toBe(1);
    expect(sample(body, 'edgeke_queue_depth', { flow: 'bearing-cwru' })).toBe(1);
  });

  it('keeps registries apart and includes process and event-loop metrics', async () => {
    const first = metrics(true);
    const second = metrics(true);
    first.recordResult(result({ flow: 'only-in-first' }));
    const [a, b] = await Promise.all([first.exposition(), second.exposition()]);
    expect(a.body).toContain('flow="only-in-first"');
    expect(b.body).not.toContain('only-in-first');
    for (const body of [a.body, b.body]) {
      expect(body).toContain('process_cpu_user_seconds_total');
      expect(body).toContain('nodejs_eventloop_lag_seconds');
      expect(sample(body, 'edgeke_event_loop_delay_seconds', { stat: 'p99' })).toBeGreaterThanOrEqual(0);
      expect(sample(body, 'edgeke_event_loop_delay_seconds', { stat: 'max' })).toBeGreaterThanOrEqual(0);
    }
  });

  it('shows a blocked event loop in the explicit gauge', async () => {
    const m = metrics();
    await m.exposition(); // reset the window
    await new Promise((resolve) => setTimeout(resolve, 30));
    const until = Date.now() + 120;
    while (Date.now() < until) {
      // block the loop on purpose
    }
    await new Promise((resolve) => setTimeout(resolve, 30));
    const { body } = await m.exposition();
    expect(sample(body, 'edgeke_event_loop_delay_seconds', { stat: 'max' })).toBeGreaterThanOrEqual(0.08);
  });
});

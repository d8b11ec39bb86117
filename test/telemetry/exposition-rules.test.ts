import { describe, expect, it } from 'vitest';
import type { FrameResult } from '../../src/core/frame.ts';
import { EdgekeMetrics } from '../../src/telemetry/metrics.ts';

// Prometheus naming and exposition rules (prometheus.io/docs/practices/naming, /instrumenting/exposition_formats),
// checked on everything /metrics serves with every series populated: base units only, `_total` on counters and only
// there, a HELP and a TYPE per family, valid names and labels, histograms with their buckets, +Inf, _sum and _count.

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Unit words that are not base units (Prometheus wants seconds, bytes, meters, ratios 0..1...). */
const NOT_BASE_UNITS = /_(ms|millis|milliseconds|microseconds|us|ns|nanoseconds|minutes|hours|days|kb|kib|mb|mib|gb|gib|kilobytes|megabytes|percent|pct)(_|$)/;

function populated(): EdgekeMetrics {
  const metrics = new EdgekeMetrics({ defaultMetrics: true });
  const result: FrameResult = {
    flow: 'f', id: '1', captureTs: 0, captureTsSource: 'device', model: 'm', engine: 'onnx', outcome: 'ok', exit: 1,
    queueMs: 1, inferMs: 2, e2eMs: 3, deadlineMs: 50, deadlineMet: true, configVersion: 1,
  };
  metrics.recordResult(result);
  metrics.setQueueDepth('f', 1);
  metrics.setSourceConnected('f', 'mqtt', true);
  metrics.setFlowConfig('f', { version: 1, deadlineMs: 50 });
  metrics.setModelLoaded('m', 'onnx', true);
  metrics.setSinkBuffer('influx:f', 1);
  metrics.recordSinkDropped('influx:f', 'rejected', 1);
  metrics.setDeviceClockSkew('f', 'sensors/1', 0.3);
  metrics.recordCaptureTimeUntrusted('f');
  metrics.recordLatencyClamped('f');
  metrics.recordWalCommit('f', 10, 0.002);
  metrics.recordWalReplayed('f', 3);
  metrics.setWalState('f', { bytes: 1_024, records: 10, segments: 1, retainedSegments: 0, intakeHeldSeconds: 0.5 });
  return metrics;
}

describe('Prometheus exposition rules', () => {
  it('every family follows the naming and exposition rules', async () => {
    const metrics = populated();
    const { body } = await metrics.exposition();
    metrics.close();
    const help = new Map<string, string>();
    const type = new Map<string, string>();
    const samples: { name: string; labels: string }[] = [];
    for (const line of body.split('\n')) {
      if (line === '') continue;
      const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
      if (meta !== null) {
        (meta[1] === 'HELP' ? help : type).set(meta[2] as string, meta[3] as string);
        continue;
      }
      const sample = /^([^\s{]+)(?:\{(.*)\})? (\S+)$/.exec(line);
      expect(sample, line).not.toBeNull();
      samples.push({ name: sample?.[1] ?? '', labels: sample?.[2] ?? '' });
      // Go's ParseFloat (Prometheus' parser) takes NaN in any case; prom-client writes `Nan` for an empty lag sample.
      expect(Number.isNaN(Number(sample?.[3])) && sample?.[3]?.toLowerCase() !== 'nan', line).toBe(false);
    }
    const problems: string[] = [];
    for (const [name, kind] of type) {
      if (!NAME.test(name)) problems.push(`${name}: invalid name`);
      if (!help.has(name) || help.get(name) === '') problems.push(`${name}: no HELP`);
      if (kind === 'counter' && !name.endsWith('_total')) problems.push(`${name}: counter without _total`);
      if (NOT_BASE_UNITS.test(name)) problems.push(`${name}: not a base unit`);
      // prom-client's default process metrics keep their standard names (nodejs_active_handles_total is a gauge)
      // and an empty GC histogram has no samples yet: the rest is checked on EdgeKE's own families.
      if (!name.startsWith('edgeke_')) continue;
      if (kind !== 'counter' && name.endsWith('_total')) problems.push(`${name}: _total on a ${kind}`);
      if (kind === 'histogram') {
        const buckets = samples.filter((sample) => sample.name === `${name}_bucket`);
        if (buckets.length === 0) problems.push(`${name}: no buckets`);
        if (!buckets.some((sample) => sample.labels.includes('le="+Inf"'))) problems.push(`${name}: no +Inf bucket`);
        for (const suffix of ['_sum', '_count']) if (!samples.some((sample) => sample.name === `${name}${suffix}`)) problems.push(`${name}: no ${suffix}`);
      }
    }
    for (const sample of samples) {
      const family = [...type.keys()].find((name) => sample.name === name || ['_bucket', '_sum', '_count'].some((suffix) => sample.name === `${name}${suffix}`));
      if (family === undefined) problems.push(`${sample.name}: sample without TYPE`);
      for (const pair of sample.labels === '' ? [] : sample.labels.match(/[^,=]+="(?:[^"\\]|\\.)*"/g) ?? []) {
        const label = pair.slice(0, pair.indexOf('='));
        if (!LABEL.test(label) || label.startsWith('__')) problems.push(`${sample.name}: invalid label ${label}`);
      }
    }
    expect(problems).toEqual([]);
    // The EdgeKE families this checks (not only prom-client's defaults).
    expect([...type.keys()].filter((name) => name.startsWith('edgeke_')).length).toBeGreaterThanOrEqual(22);
  });
});

import mqtt from 'mqtt';
import pino from 'pino';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import type { LoadedFlow } from '../../../src/flows/load.ts';
import { loadFlow } from '../../helpers/flow-from-yaml.ts';
import { readManifest } from '../../../src/model/manifest.ts';
import { EdgekeService } from '../../../src/pipeline/service.ts';
import { startCameraSimulator } from '../../../src/simulators/camera-simulator.ts';
import { DASHBOARD_FILES, loadDashboard, nonEmptySeries, provisionedDatasource, runDashboardQueries } from './dashboard-check.ts';
import { influxQuery, type InfluxQlResult } from './influx-loader.ts';

// The dashboards over telemetry from a real run: the service answers replayed NEU camera frames with the shipped
// model and writes to a real InfluxDB; mid-run the deadline is tightened (a config change, frames shed) and a broken
// frame arrives (an error). Then every panel, annotation and variable query must return data.

const DATABASE = 'edgeke_grafana_real_run';

function flow(deadlineMs: number): LoadedFlow {
  const yaml = `
name: real-camera
source: { kind: mqtt, url: "${inject('mosquittoUrl')}", topic: "real/+/camera", qos: 1, clientId: grafana-real-run }
decode: image
model: { path: models/neu-surface }
policy: { mode: deadline, deadlineMs: ${deadlineMs}, latePolicy: shed }
batching: { maxBatch: 8, maxWaitMs: 2 }
sinks:
  influx: { url: "${inject('influxUrl')}", database: ${DATABASE}, flushIntervalMs: 200, statsIntervalMs: 1000 }
`;
  return loadFlow(yaml, {}, 'real-camera.yaml');
}

describe('dashboards over a real run', () => {
  it.each(DASHBOARD_FILES)('%s: every query returns data', { timeout: 120_000 }, async (file) => {
    const startMs = Date.now() - 1_000;
    if (file === DASHBOARD_FILES[0]) await runOnce();
    const datasource = provisionedDatasource();
    const context = { range: { fromMs: startMs - 60_000, toMs: Date.now() + 1_000 }, maxDataPoints: 1_000, minInterval: datasource.minInterval };
    const runs = await runDashboardQueries({ influxUrl: inject('influxUrl'), database: DATABASE, dashboard: loadDashboard(file), context, variableValues: { flow: ['real-camera'] } });
    expect(runs.length).toBeGreaterThan(10);
    // A shed-reason series is empty, rightly, for a reason that never occurred in the run (it sheds for no-slack only).
    const [shed] = await influxQuery(inject('influxUrl'), DATABASE, `SELECT "reason" FROM "inference" WHERE "outcome" = 'shed'`);
    const reasons = new Set((shed?.series?.[0]?.values ?? []).map((row) => String(row[1])));
    expect(reasons).toContain('no-slack');
    const expectsData = (query: string): boolean => {
      const reason = /"reason" = '([\w-]+)'/.exec(query)?.[1];
      return reason === undefined || reasons.has(reason);
    };
    const failing = runs.filter((run) => run.error !== undefined || (nonEmptySeries(run.series).length === 0) === expectsData(run.query));
    expect(failing.map((run) => `${run.kind} ${run.where}: ${run.error ?? 'no data'}`)).toEqual([]);
    if (file === DASHBOARD_FILES[0]) await expectWalFieldsOfTheRun();
  });
});

/**
 * What the durability panels show of the run: every frame's point went through the write-ahead log once (its
 * commits, as flow_stats counts them, hold every inference point, plus the stats points before the last), a fresh log
 * replayed nothing, and the fsyncs took some time, each.
 */
async function expectWalFieldsOfTheRun(): Promise<void> {
  const first = (result: InfluxQlResult | undefined): number[] => (result?.series?.[0]?.values[0] ?? []).map(Number);
  const [inference, stats, wal] = await influxQuery(
    inject('influxUrl'),
    DATABASE,
    'SELECT count("id") FROM "inference"; SELECT count("frames") FROM "flow_stats"; ' +
      'SELECT sum("wal_committed"), sum("wal_commits"), sum("wal_replayed"), min("wal_fsync_mean_ms"), max("wal_fsync_max_ms"), max("wal_bytes") FROM "flow_stats"',
  );
  const [, frames = 0] = first(inference);
  const [, statsPoints = 0] = first(stats);
  const [, committed = 0, commits = 0, replayed, fsyncMin = 0, fsyncMax, bytes] = first(wal);
  expect(frames).toBeGreaterThan(400);
  expect(committed).toBeGreaterThanOrEqual(frames);
  expect(committed).toBeLessThan(frames + statsPoints);
  // Each fsync made at least one point durable (how many more depends on how the frames came together).
  expect(commits).toBeGreaterThan(0);
  expect(commits).toBeLessThanOrEqual(committed);
  expect(replayed).toBe(0);
  expect(fsyncMin).toBeGreaterThan(0);
  expect(fsyncMax).toBeGreaterThanOrEqual(fsyncMin);
  expect(bytes).toBeGreaterThan(0);
  console.info(`[grafana] real run: ${frames} frames, ${committed} points made durable in ${commits} fsyncs; fsync per interval mean >= ${fsyncMin.toFixed(2)} ms, longest ${fsyncMax?.toFixed(2)} ms`);
}

let ran = false;
async function runOnce(): Promise<void> {
  if (ran) return;
  ran = true;
  const profileCacheDir = join(mkdtempSync(join(tmpdir(), 'edgeke-grafana-run-')), 'profiles');
  const logger = pino({ level: 'silent' });
  const service = await EdgekeService.start([flow(60_000)], { logger, profileCacheDir, profileRepeats: 3 });
  const classes = (await readManifest('models/neu-surface')).classes;
  const publish = async (count: number): Promise<void> => {
    const camera = await startCameraSimulator({ url: inject('mosquittoUrl'), topic: 'real/cam1/camera', imagesFolder: 'data/neu-surface/test', classes, ratePerSecond: 60, format: 'json', protocolVersion: 5, limit: count });
    await camera.finished;
    await camera.stop();
  };
  try {
    // Over 5 s on each side of the change: the annotation compares config versions in 5 s buckets (Grafana's
    // minimum interval for this datasource), so each version must own at least one whole bucket.
    await publish(360);
    // A tighter deadline from the next frame: a new config version, and frames that cannot make it are shed.
    await service.apply([flow(1)]);
    await publish(60);
    const broken = await mqtt.connectAsync(inject('mosquittoUrl'), { protocolVersion: 5, clientId: 'grafana-real-run-broken' });
    await broken.publishAsync('real/cam1/camera', '{"id": "broken", "image": "bm90IGFuIGltYWdl"}', { qos: 1 });
    await broken.endAsync();
    await new Promise((resolve) => setTimeout(resolve, 6_500));
  } finally {
    await service.stop(10_000);
  }
}

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { dashboardQueries } from './dashboard-queries.ts';
import { DASHBOARD_FILES, loadDashboard, nonEmptySeries, provisionedDatasource, runDashboardQueries, type QueryRun } from './dashboard-check.ts';
import { expandInfluxQl, grafanaInterval, type TimeRange } from './grafana-influxql.ts';
import { influxQuery, loadTelemetry } from './influx-loader.ts';
import { sinkBuiltPoints } from './sink-points.ts';
import { DEFAULT_FLOWS, syntheticRuns, syntheticTelemetry, type SyntheticTelemetry } from './synthetic-telemetry.ts';

// The dashboards against real InfluxDB data shaped per docs/telemetry.md: every panel target, annotation and
// variable query, expanded as Grafana expands it, must parse and return data.

const DATABASE = 'edgeke_grafana_dashboards';
const SINK_DATABASE = 'edgeke_grafana_sink_points';
const STATS_INTERVAL_MS = 5_000;
const datasource = provisionedDatasource();
const flowNames = DEFAULT_FLOWS.map((flow) => flow.name);

let telemetry: SyntheticTelemetry;
let influxUrl: string;

beforeAll(async () => {
  influxUrl = inject('influxUrl');
  // 20 minutes that ended a minute ago, on stats-interval boundaries, like a real run seen on "last 30 minutes".
  const endMs = Math.floor(Date.now() / STATS_INTERVAL_MS) * STATS_INTERVAL_MS - 60_000;
  const run = { startMs: endMs - 20 * 60_000, durationMs: 20 * 60_000, statsIntervalMs: STATS_INTERVAL_MS, flows: DEFAULT_FLOWS };
  telemetry = syntheticTelemetry(run);
  await loadTelemetry(influxUrl, DATABASE, telemetry.points);
  // The same frames again, as the InfluxDB sink's own point builders shape them.
  await loadTelemetry(influxUrl, SINK_DATABASE, sinkBuiltPoints(syntheticRuns(run)));
});

/** Flows whose devices send capture times (the others rightly have no clock skew). */
const flowsWithClocks = DEFAULT_FLOWS.filter((flow) => flow.deviceClock).map((flow) => flow.name);

/** Whether a query selects only the clock skew (a table showing it next to other columns has rows regardless). */
function selectsOnlySkew(query: string): boolean {
  const selected = [...(/^SELECT (.*?) FROM /.exec(query)?.[1] ?? '').replace(/ AS "[^"]*"/g, '').matchAll(/"(\w+)"/g)].map((match) => match[1]);
  return selected.length > 0 && selected.every((field) => field === 'device_clock_skew_ms');
}

/**
 * Whether a query must return data: a config-change annotation is empty, rightly, for a flow that was never reloaded,
 * and a clock-skew panel for a flow whose devices send no capture time.
 */
function expectsData(run: QueryRun): boolean {
  const flow = run.variables.flow;
  if (run.kind === 'annotation' && run.where.startsWith('annotation "Config changes"')) return flow === undefined || (telemetry.configChanges.get(flow) ?? []).length > 0;
  if (selectsOnlySkew(run.query) && typeof flow === 'string') return flowsWithClocks.includes(flow);
  return true;
}

function describeFailures(runs: QueryRun[]): string {
  return runs.map((run) => `${run.dashboard} ${run.where} ${JSON.stringify(run.variables)}: ${run.error ?? 'no series'}\n  ${run.expanded}`).join('\n');
}

/** Tag and field names with their types, read from the tables of docs/telemetry.md (the contract). */
function documentedSchema(): Record<'inference' | 'flow_stats', { tags: Set<string>; fields: Map<string, string> }> {
  const text = readFileSync(join(import.meta.dirname, '..', '..', '..', 'docs', 'telemetry.md'), 'utf8');
  const [, inferenceText = '', statsText = ''] = text.split(/^## /m);
  const names = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((match) => match[1] ?? '');
  const inference = { tags: new Set<string>(), fields: new Map<string, string>() };
  for (const [, kind, name, type] of inferenceText.matchAll(/^\| (tag|field) \| `(\w+)` \| (\w+) \|/gm)) {
    if (kind === 'tag') inference.tags.add(name ?? '');
    else inference.fields.set(name ?? '', type ?? '');
  }
  const stats = { tags: new Set(names(/^Tags: (.*)$/m.exec(statsText)?.[1] ?? '')), fields: new Map<string, string>() };
  for (const [, cell = '', type = ''] of statsText.matchAll(/^\| ([^|]*`[^|]*) \| (\w+) \|/gm)) {
    for (const name of names(cell)) stats.fields.set(name === 'exit_N' ? 'exit_\\d+' : name, type);
  }
  return { inference, flow_stats: stats };
}

const VALUE_TYPES: Record<string, string> = { bigint: 'integer', number: 'float', string: 'string', boolean: 'boolean' };

describe('synthetic telemetry', () => {
  it('uses exactly the tags, fields and types of docs/telemetry.md', () => {
    const schema = documentedSchema();
    expect(schema.inference.tags).toEqual(new Set(['flow', 'model', 'engine', 'exit', 'outcome', 'model_version']));
    expect(schema.inference.fields.size).toBe(16);
    expect(schema.flow_stats.fields.get('p95_ms')).toBe('float');
    const seen = new Set<string>();
    for (const point of telemetry.points) {
      const documented = schema[point.measurement as 'inference' | 'flow_stats'];
      expect(documented, point.measurement).toBeDefined();
      expect(new Set(Object.keys(point.tags))).toEqual(documented.tags);
      for (const [name, value] of Object.entries(point.fields)) {
        const type = documented.fields.get(name) ?? [...documented.fields].find(([pattern]) => new RegExp(`^${pattern}$`).test(name))?.[1];
        expect(VALUE_TYPES[typeof value], `${point.measurement}.${name}`).toBe(type);
        seen.add(`${point.measurement}.${name}`);
      }
    }
    // Every documented inference field appears somewhere, so every dashboard column has data to show.
    for (const name of schema.inference.fields.keys()) expect(seen, name).toContain(`inference.${name}`);
  });
});

describe('Grafana provisioning', () => {
  it('points every panel, annotation and variable of both dashboards at the provisioned InfluxDB', () => {
    expect(datasource).toMatchObject({ url: 'http://influxdb:8086', database: 'edgeke' });
    for (const file of DASHBOARD_FILES) {
      const text = JSON.stringify(loadDashboard(file));
      const uids = [...text.matchAll(/"datasource":\{"type":"(\w+)","uid":"([^"]+)"\}/g)].map((match) => `${match[1]}/${match[2]}`);
      expect(uids.length).toBeGreaterThan(5);
      expect(new Set(uids.filter((uid) => uid !== 'grafana/-- Grafana --'))).toEqual(new Set([`influxdb/${datasource.uid}`]));
    }
  });

  it.each(DASHBOARD_FILES)('%s: unique panel ids, panels inside 24 columns, none overlapping', (file) => {
    const panels = (loadDashboard(file).panels ?? []) as { id?: number; title?: string; gridPos?: { x: number; y: number; w: number; h: number } }[];
    expect(new Set(panels.map((panel) => panel.id)).size).toBe(panels.length);
    const cells = new Map<string, string>();
    for (const panel of panels) {
      const { x, y, w, h } = panel.gridPos ?? { x: 0, y: 0, w: 0, h: 0 };
      expect(x + w, panel.title).toBeLessThanOrEqual(24);
      for (let row = y; row < y + h; row += 1) {
        for (let column = x; column < x + w; column += 1) {
          const key = `${row}:${column}`;
          expect(cells.get(key), `${panel.title} overlaps ${cells.get(key)}`).toBeUndefined();
          cells.set(key, panel.title ?? '');
        }
      }
    }
  });

  it('filters every query of the per-flow dashboard by the flow variable', () => {
    const queries = dashboardQueries(loadDashboard('edgeke-flow.json')).filter((query) => query.kind !== 'variable');
    for (const query of queries) expect(query.query, query.where).toContain('"flow" =~ /^$flow$/');
  });

  it('gives the per-flow dashboard a flow variable listing the flows in InfluxDB', async () => {
    const dashboard = loadDashboard('edgeke-flow.json');
    const variables = dashboardQueries(dashboard).filter((query) => query.kind === 'variable');
    expect(variables.map((variable) => variable.query)).toEqual(['SHOW TAG VALUES FROM "inference" WITH KEY = "flow"']);
    const [result] = await influxQuery(influxUrl, DATABASE, variables[0]?.query ?? '');
    const values = result?.series?.[0]?.values.map((row) => row[1]);
    expect(values).toEqual([...flowNames].sort());
  });
});

describe.each([
  // Grafana's "last 30 minutes" on a wide panel: $__interval is the datasource's 5 s minimum.
  { name: 'last 30 minutes', span: 30 * 60_000, maxDataPoints: 1_000, interval: '5s' },
  // "last 6 hours" on a narrow panel: coarser buckets.
  { name: 'last 6 hours', span: 6 * 3_600_000, maxDataPoints: 500, interval: '30s' },
])('dashboards over $name', ({ span, maxDataPoints, interval }) => {
  let range: TimeRange;
  beforeAll(() => {
    range = { fromMs: telemetry.toMs + 60_000 - span, toMs: telemetry.toMs + 60_000 };
  });

  it.each(DASHBOARD_FILES)('%s: every query expands and returns data for every flow', async (file) => {
    const context = { range, maxDataPoints, minInterval: datasource.minInterval };
    expect(grafanaInterval(context).interval).toBe(interval);
    const runs = await runDashboardQueries({ influxUrl, database: DATABASE, dashboard: loadDashboard(file), context, variableValues: { flow: flowNames } });

    expect(runs.length).toBeGreaterThan(file === 'edgeke-flow.json' ? 40 : 15);
    const failing = runs.filter((run) => run.error !== undefined || (nonEmptySeries(run.series).length === 0) === expectsData(run));
    expect(failing, describeFailures(failing)).toEqual([]);
    // Queries grouped by flow see every flow; queries of one flow see only that flow.
    for (const run of runs.filter((one) => /GROUP BY .*"flow"/.test(one.query) && one.kind === 'panel')) {
      const flows = selectsOnlySkew(run.query) ? flowsWithClocks : flowNames;
      expect(new Set(run.series.map((series) => series.tags?.flow)), run.where).toEqual(new Set(flows));
    }
  });
});

describe('dashboards over the points the InfluxDB sink builds', () => {
  it.each(DASHBOARD_FILES)('%s: every query returns data for every flow', async (file) => {
    const context = { range: { fromMs: telemetry.fromMs, toMs: telemetry.toMs }, maxDataPoints: 1_000, minInterval: datasource.minInterval };
    const runs = await runDashboardQueries({ influxUrl, database: SINK_DATABASE, dashboard: loadDashboard(file), context, variableValues: { flow: flowNames } });
    const failing = runs.filter((run) => run.error !== undefined || (nonEmptySeries(run.series).length === 0) === expectsData(run));
    expect(failing, describeFailures(failing)).toEqual([]);
  });

  it('agrees with the schema-shaped points on the headline numbers', async () => {
    for (const query of [
      'SELECT sum("frames"), sum("ok"), sum("late"), sum("shed"), sum("error"), sum("exit_1") FROM "flow_stats" GROUP BY "flow"',
      'SELECT count("id"), sum("e2e_ms"), count("correct") FROM "inference" GROUP BY "flow", "outcome", "exit"',
      'SELECT count("id"), max("device_clock_skew_ms") FROM "inference" GROUP BY "flow", "model_version"',
      // The device a frame's skew belongs to, as both write it.
      'SELECT count("device"), min("device_clock_skew_ms"), max("device_clock_skew_ms") FROM "inference" WHERE "device" = \'camera-neu/device-2\' GROUP BY "flow"',
      // The write-ahead log fields of flow_stats.
      'SELECT sum("wal_commits"), sum("wal_committed"), sum("wal_replayed"), mean("wal_fsync_mean_ms"), max("wal_fsync_max_ms"), sum("wal_intake_held_ms"), max("wal_bytes"), max("wal_segments") FROM "flow_stats" GROUP BY "flow"',
    ]) {
      const [ours] = await influxQuery(influxUrl, DATABASE, query);
      const [sinks] = await influxQuery(influxUrl, SINK_DATABASE, query);
      expect(ours?.series?.length, query).toBeGreaterThan(0);
      expect(sinks?.series, query).toEqual(ours?.series);
    }
  });
});

describe('dashboard numbers match the data', () => {
  const range = (): TimeRange => ({ fromMs: telemetry.fromMs, toMs: telemetry.toMs });
  const context = () => ({ range: range(), maxDataPoints: 1_000, minInterval: datasource.minInterval });

  async function single(file: string, panelTitle: string, variables: Record<string, string> = {}): Promise<number> {
    const query = dashboardQueries(loadDashboard(file)).find((one) => one.where.startsWith(`panel "${panelTitle}"`));
    if (query === undefined) throw new Error(`no panel ${panelTitle}`);
    const [result] = await influxQuery(influxUrl, DATABASE, expandInfluxQl(query.query, { ...context(), variables }));
    return Number(result?.series?.[0]?.values[0]?.[1]);
  }

  it('counts every frame once and computes attainment as ok / frames', async () => {
    const inference = telemetry.points.filter((point) => point.measurement === 'inference');
    const ok = inference.filter((point) => point.tags.outcome === 'ok').length;
    expect(await single('edgeke-overview.json', 'Frames')).toBe(inference.length);
    expect(await single('edgeke-overview.json', 'Deadline attainment')).toBeCloseTo(ok / inference.length, 9);
    const camera = inference.filter((point) => point.tags.flow === 'camera-neu');
    expect(await single('edgeke-flow.json', 'Frames', { flow: 'camera-neu' })).toBe(camera.length);
    expect(await single('edgeke-flow.json', 'Config version', { flow: 'camera-neu' })).toBe(3);
    expect(await single('edgeke-flow.json', 'Deadline now', { flow: 'bearing-cwru' })).toBe(8);
  });

  it('marks each config change of a flow with one annotation, at the change', async () => {
    const dashboard = loadDashboard('edgeke-flow.json');
    const annotation = dashboardQueries(dashboard).find((query) => query.where === 'annotation "Config changes"');
    const { intervalMs } = grafanaInterval(context());
    for (const flow of flowNames) {
      const [result] = await influxQuery(influxUrl, DATABASE, expandInfluxQl(annotation?.query ?? '', { ...context(), variables: { flow } }));
      const rows = result?.series?.[0]?.values ?? [];
      const changes = telemetry.configChanges.get(flow) ?? [];
      expect(rows.map((row) => row[1]), flow).toEqual(changes.map((change) => change.version));
      rows.forEach((row, index) => {
        const at = changes[index]?.atMs ?? 0;
        // Marked in the bucket holding the first stats point written under the new version.
        expect(Number(row[0]), flow).toBeGreaterThanOrEqual(at - intervalMs);
        expect(Number(row[0]), flow).toBeLessThanOrEqual(at + STATS_INTERVAL_MS);
      });
    }
    const overview = dashboardQueries(loadDashboard('edgeke-overview.json')).find((query) => query.where === 'annotation "Config changes"');
    const [result] = await influxQuery(influxUrl, DATABASE, expandInfluxQl(overview?.query ?? '', context()));
    const byFlow = Object.fromEntries((result?.series ?? []).map((series) => [series.tags?.flow, series.values.map((row) => row[1])]));
    expect(byFlow).toEqual({ 'camera-neu': [2, 3], 'bearing-cwru': [2] });
  });

  /** Annotation rows of a dashboard's "Model versions" annotation as (time, model_version), per flow. */
  async function modelMarks(file: string, variables: Record<string, string> = {}): Promise<Map<string, [number, string][]>> {
    const annotation = dashboardQueries(loadDashboard(file)).find((query) => query.where === 'annotation "Model versions"');
    expect(annotation, file).toBeDefined();
    const [result] = await influxQuery(influxUrl, DATABASE, expandInfluxQl(annotation?.query ?? '', { ...context(), variables }));
    const marks = new Map<string, [number, string][]>();
    for (const series of result?.series ?? []) {
      const flow = series.tags?.flow ?? variables.flow ?? '';
      const rows = marks.get(flow) ?? [];
      for (const row of series.values) rows.push([Number(row[0]), series.tags?.model_version ?? '']);
      marks.set(flow, rows.sort((a, b) => a[0] - b[0]));
    }
    return marks;
  }

  it('marks each model version of a flow where its first frame is, so a model swap shows where it happened', async () => {
    const overview = await modelMarks('edgeke-overview.json');
    for (const flow of flowNames) {
      const versions = telemetry.modelVersions.get(flow) ?? [];
      const [perFlow] = (await modelMarks('edgeke-flow.json', { flow })).values();
      for (const marks of [perFlow, overview.get(flow)]) {
        expect(marks?.map(([, version]) => version), flow).toEqual(versions.map((one) => one.version));
        marks?.forEach(([t], index) => {
          // At the first frame captured under the version: within one frame period (the slowest flow sends 4 fr/s).
          const at = versions[index]?.atMs ?? 0;
          expect(t, flow).toBeGreaterThanOrEqual(at);
          expect(t, flow).toBeLessThanOrEqual(at + 1_000);
        });
      }
    }
    expect(telemetry.modelVersions.get('camera-neu')).toHaveLength(2);
  });

  it('counts shed frames by reason as the data has them, and shows the device clock skew range', async () => {
    const inference = telemetry.points.filter((point) => point.measurement === 'inference');
    const { intervalMs } = grafanaInterval(context());
    for (const [file, variables] of [['edgeke-flow.json', { flow: 'camera-neu' }], ['edgeke-overview.json', {}]] as const) {
      const panel = dashboardQueries(loadDashboard(file)).filter((query) => query.where.startsWith(`panel "Shed reasons`));
      expect(panel.map((query) => /"reason" = '([\w-]+)'/.exec(query.query)?.[1])).toEqual(['no-slack', 'overload', 'queue-full']);
      for (const query of panel) {
        const reason = /"reason" = '([\w-]+)'/.exec(query.query)?.[1];
        const [result] = await influxQuery(influxUrl, DATABASE, expandInfluxQl(query.query, { ...context(), variables }));
        // Frames per second in each bucket: times the bucket length, summed, gives the frames.
        const frames = (result?.series?.[0]?.values ?? []).reduce((sum, row) => sum + Number(row[1]) * (intervalMs / 1_000), 0);
        const expected = inference.filter(
          (point) => point.tags.outcome === 'shed' && point.fields.reason === reason && ('flow' in variables ? point.tags.flow === variables.flow : true),
        ).length;
        expect(expected, `${file} ${reason}`).toBeGreaterThan(0);
        expect(Math.round(frames), `${file} ${reason}`).toBe(expected);
      }
    }
    const skew = dashboardQueries(loadDashboard('edgeke-flow.json')).find((query) => query.where.startsWith('panel "Device clock skew"'));
    const [result] = await influxQuery(influxUrl, DATABASE, expandInfluxQl(skew?.query ?? '', { ...context(), variables: { flow: 'bearing-cwru' } }));
    const columns = result?.series?.[0]?.columns ?? [];
    const rows = result?.series?.[0]?.values ?? [];
    const skews = inference.filter((point) => point.tags.flow === 'bearing-cwru').map((point) => Number(point.fields.device_clock_skew_ms));
    expect(Math.min(...rows.map((row) => Number(row[columns.indexOf('min')])))).toBeCloseTo(Math.min(...skews), 9);
    expect(Math.max(...rows.map((row) => Number(row[columns.indexOf('max')])))).toBeCloseTo(Math.max(...skews), 9);
  });
});

describe('durability panels match the write-ahead log data', () => {
  const context = () => ({ range: { fromMs: telemetry.fromMs, toMs: telemetry.toMs }, maxDataPoints: 1_000, minInterval: datasource.minInterval });
  const walStats = (flow: string) => telemetry.points.filter((point) => point.measurement === 'flow_stats' && point.tags.flow === flow);
  const numbers = (flow: string, field: string) => walStats(flow).map((point) => Number(point.fields[field]));

  /** Rows of every target of a panel (by title), as [time, ...values], per series (keyed by its flow tag). */
  async function panelRows(file: string, title: string, variables: Record<string, string> = {}): Promise<Map<string, (number | null)[][]>> {
    const queries = dashboardQueries(loadDashboard(file)).filter((query) => query.where.startsWith(`panel "${title}"`));
    expect(queries.length, title).toBeGreaterThan(0);
    const rows = new Map<string, (number | null)[][]>();
    for (const query of queries) {
      const [result] = await influxQuery(influxUrl, DATABASE, expandInfluxQl(query.query, { ...context(), variables }));
      for (const series of result?.series ?? []) {
        const key = `${series.tags?.flow ?? variables.flow ?? ''} ${query.where}`;
        rows.set(key, series.values.map((row) => row.map((value) => (value === null ? null : Number(value)))));
      }
    }
    return rows;
  }

  it('shows the points replayed on start, per flow and for one flow', async () => {
    const expected = Object.fromEntries(DEFAULT_FLOWS.map((flow) => [flow.name, flow.walReplayed]));
    expect(expected['camera-neu']).toBeGreaterThan(0);
    const perFlow = await panelRows('edgeke-overview.json', 'Points replayed on start, per flow');
    expect(Object.fromEntries([...perFlow].map(([key, rows]) => [key.split(' ')[0], rows[0]?.[1]]))).toEqual(expected);
    for (const flow of flowNames) {
      const [rows] = (await panelRows('edgeke-flow.json', 'Points replayed on start', { flow })).values();
      expect(rows?.[0]?.[1], flow).toBe(expected[flow]);
    }
  });

  it('shows the share of time intake was held back: over the buckets it adds up to the held time, within 0..1', async () => {
    const { intervalMs } = grafanaInterval(context());
    for (const [file, variables] of [['edgeke-flow.json', (flow: string) => ({ flow })], ['edgeke-overview.json', () => ({})]] as const) {
      const panel = await panelRows(file, 'Intake held back', variables('camera-neu'));
      for (const flow of file === 'edgeke-flow.json' ? ['camera-neu'] : flowNames) {
        const rows = [...panel].find(([key]) => key.startsWith(`${flow} `))?.[1] ?? [];
        const shares = rows.map((row) => row[1] ?? 0);
        for (const share of shares) expect(share).toBeGreaterThanOrEqual(0);
        for (const share of shares) expect(share).toBeLessThanOrEqual(1);
        const heldMs = numbers(flow, 'wal_intake_held_ms').reduce((sum, value) => sum + value, 0);
        expect(shares.reduce((sum, share) => sum + share * intervalMs, 0), `${file} ${flow}`).toBeCloseTo(heldMs, 6);
        // Only the flow whose InfluxDB went away was held back.
        expect(heldMs > 0, flow).toBe(flow === 'camera-neu');
      }
    }
  });

  it('shows the backlog peak during the InfluxDB outage, and the longest fsync', async () => {
    const camera = DEFAULT_FLOWS.find((flow) => flow.name === 'camera-neu');
    const outage = camera?.influxOutage ?? { atMs: 0, durationMs: 0 };
    const panel = await panelRows('edgeke-flow.json', 'Write-ahead log backlog', { flow: 'camera-neu' });
    const bytes = [...panel].find(([key]) => key.endsWith('target A'))?.[1] ?? [];
    const peak = bytes.reduce((best, row) => ((row[1] ?? 0) > (best[1] ?? 0) ? row : best), [0, 0]);
    expect(peak[1]).toBe(Math.max(...numbers('camera-neu', 'wal_bytes')));
    expect(peak[0]).toBeGreaterThanOrEqual(telemetry.fromMs + outage.atMs);
    expect(peak[0]).toBeLessThanOrEqual(telemetry.fromMs + outage.atMs + outage.durationMs);
    const points = [...panel].find(([key]) => key.endsWith('target B'))?.[1] ?? [];
    expect(Math.max(...points.map((row) => row[1] ?? 0))).toBe(Math.max(...numbers('camera-neu', 'sink_buffer')));

    const fsync = await panelRows('edgeke-flow.json', 'Write-ahead log fsync', { flow: 'bearing-cwru' });
    const [latency, perFsync] = [...fsync.values()];
    expect(Math.max(...(latency ?? []).map((row) => row[2] ?? 0))).toBeCloseTo(Math.max(...numbers('bearing-cwru', 'wal_fsync_max_ms')), 9);
    // Points per fsync: one stats point per 5 s bucket here, so the panel shows each interval's committed / commits.
    expect(grafanaInterval(context()).intervalMs).toBe(5_000);
    const committed = numbers('bearing-cwru', 'wal_committed');
    const expected = numbers('bearing-cwru', 'wal_commits').map((commits, index) => (committed[index] ?? 0) / commits);
    const ratios = (perFsync ?? []).flatMap((row) => (row[1] === null || row[1] === undefined ? [] : [row[1]]));
    expect(ratios.sort((a, b) => a - b)).toEqual(expected.sort((a, b) => a - b));
    expect(Math.min(...ratios)).toBeGreaterThanOrEqual(1);
    const overview = await panelRows('edgeke-overview.json', 'Longest fsync per flow');
    expect(new Set([...overview.keys()].map((key) => key.split(' ')[0]))).toEqual(new Set(flowNames));
  });
});

describe('Grafana macro expansion', () => {
  const context = { range: { fromMs: 1_000_000, toMs: 1_600_000 }, maxDataPoints: 50, minInterval: '5s' };

  it('expands time filter, intervals and variables the way Grafana does', () => {
    const query = 'SELECT count("x") / ($__interval_ms / 1000) FROM "m" WHERE "flow" =~ /^$flow$/ AND "f" = \'${flow}\' AND $timeFilter GROUP BY time($__interval), time($interval) fill(null)';
    expect(expandInfluxQl(query, { ...context, variables: { flow: 'a.b/c' } })).toBe(
      'SELECT count("x") / (10000 / 1000) FROM "m" WHERE "flow" =~ /^a\\.b\\/c$/ AND "f" = \'a.b/c\' AND time >= 1000000ms and time <= 1600000ms GROUP BY time(10s), time(10s) fill(null)',
    );
    expect(expandInfluxQl('"flow" =~ /^$flow$/', { ...context, variables: { flow: ['x', 'y-1'] } })).toBe('"flow" =~ /^(x|y-1)$/');
    expect(grafanaInterval({ ...context, maxDataPoints: 10_000 }).interval).toBe('5s');
    expect(grafanaInterval({ range: { fromMs: 0, toMs: 24 * 3_600_000 }, maxDataPoints: 1_000 }).interval).toBe('1m');
  });
});

import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { killEdgeke, runEdgeke, type EdgekeChild } from '../../helpers/edgeke-child.ts';
import { freePort } from '../../helpers/free-port.ts';
import { influxFor, tempDir, waitFor } from '../reliability/harness.ts';

// Model swaps under load, checked from outside: a real `edgeke run` child serves the shipped bearing model; a load
// generator in a process of its own publishes windows at a steady rate (QoS 1) the whole time; meanwhile this process
// replaces the model folder (renamed into place), replaces it with a broken one and with one that takes another input
// (the old model must keep serving), then points the flow file at another folder. Every published frame must end in InfluxDB and on the results topic
// (at least once), every result names the model version that handled it, and the versions follow the swaps.

const mqttUrl = inject('mosquittoUrl');
const influxUrl = inject('influxUrl');
const dir = tempDir('swap');
const stamp = `${process.pid}-${Date.now()}`;
const TOPIC = `swap/${stamp}/bearing`;
const RESULTS = `swap/${stamp}/results`;
const RATE_HZ = 60;
const DEADLINE_MS = 1_000;

/** A copy of the shipped bearing model whose exit-1 stop threshold (at 0.99) is `threshold`: same input and classes, another version. */
function bearingCopy(to: string, threshold: number): void {
  cpSync('models/cwru-bearing', to, { recursive: true });
  const file = join(to, 'manifest.json');
  const manifest = JSON.parse(readFileSync(file, 'utf8')) as { exits: { thresholds: Record<string, number> }[] };
  const first = manifest.exits[0];
  if (first === undefined) throw new Error('the bearing model has no exits');
  first.thresholds['0.99'] = threshold;
  writeFileSync(file, JSON.stringify(manifest, null, 2));
}

function flowYaml(modelPath: string, database: string): string {
  return `
name: bearing
source: { kind: mqtt, url: "${mqttUrl}", topic: "${TOPIC}", qos: 1, clientId: swap-${stamp} }
decode: json-values
model: { path: ${modelPath} }
policy: { mode: deadline, deadlineMs: ${DEADLINE_MS}, latePolicy: shed }
batching: { maxBatch: 8, maxWaitMs: 5 }
sinks:
  influx: { url: "${influxUrl}", database: ${database}, flushIntervalMs: 200, statsIntervalMs: 60000 }
  mqttResults: { topic: "${RESULTS}" }
limits: { maxPayloadBytes: 262144 }
`;
}

/** Publishes a 2048-sample window every 1/RATE_HZ s (QoS 1) until SIGTERM; prints the ids the broker acknowledged. */
function loadGenerator(): { stop: () => Promise<string[]> } {
  const script = `
    import mqtt from 'mqtt';
    const [url, topic, rate] = process.argv.slice(1);
    const client = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: 'swap-load-' + process.pid });
    const acked = [];
    let stopping = false;
    process.on('SIGTERM', () => (stopping = true));
    for (let i = 0; !stopping; i++) {
      const started = Date.now();
      const values = Array.from({ length: 2048 }, (_, k) => Math.sin((k + i) / 9) + 0.1 * Math.sin(k / 2));
      await client.publishAsync(topic, JSON.stringify({ id: 'f' + i, ts: Date.now(), values }), { qos: 1 });
      acked.push('f' + i);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 1000 / Number(rate) - (Date.now() - started))));
    }
    await client.endAsync();
    process.stdout.write(JSON.stringify(acked));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, mqttUrl, TOPIC, String(RATE_HZ)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return {
    stop: async () => {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      return JSON.parse(out) as string[];
    },
  };
}

interface ResultMessage {
  id: string;
  capture_ts: number;
  outcome: string;
  reason?: string;
  model_version?: string;
  config_version: number;
}

/** Values of one metric by label set, from the child's /metrics. */
async function series(port: number, name: string): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    values.set(line.slice(name.length, line.lastIndexOf(' ')), Number(line.split(' ').at(-1)));
  }
  return values;
}

describe('model swaps under load, against a running edgeke (from outside)', () => {
  let child: EdgekeChild | undefined;

  afterAll(async () => {
    await killEdgeke(child);
    dir.remove();
  });

  it('swaps a replaced folder and a re-pointed flow in without losing a frame, and keeps the old model when the new one is broken', async () => {
    const database = `swap_${process.pid}`;
    const modelsDir = join(dir.path, 'models');
    const serving = join(modelsDir, 'bearing');
    bearingCopy(serving, 0.5);
    bearingCopy(join(dir.path, 'bearing-v2'), 0.6);
    bearingCopy(join(dir.path, 'bearing-broken'), 0.7);
    // Cut short: the manifest is fine, the graph is not (a copy that went wrong).
    truncateSync(join(dir.path, 'bearing-broken', 'stage3.onnx'), 1_000);
    bearingCopy(join(modelsDir, 'bearing-b'), 0.8);
    const flowFile = join(dir.path, 'flows', 'bearing.yaml');
    mkdirSync(join(dir.path, 'flows'));
    writeFileSync(flowFile, flowYaml(serving, database));

    const results: ResultMessage[] = [];
    const subscriber = await mqtt.connectAsync(mqttUrl, { protocolVersion: 5, clientId: `swap-results-${stamp}` });
    subscriber.on('message', (_topic, payload) => results.push(JSON.parse(payload.toString('utf8')) as ResultMessage));
    await subscriber.subscribeAsync(RESULTS, { qos: 1 });

    const port = await freePort();
    const running = runEdgeke([join(dir.path, 'flows')], { EDGEKE_HTTP_HOST: '127.0.0.1', EDGEKE_HTTP_PORT: String(port) });
    child = running;
    const version = async (): Promise<string | undefined> => {
      const info = await series(port, 'edgeke_model_version_info').catch(() => new Map<string, number>());
      for (const labels of info.keys()) if (labels.includes(`folder="${serving}"`)) return /version="(\w+)"/.exec(labels)?.[1];
      return undefined;
    };
    const swaps = async (): Promise<Map<string, number>> => series(port, 'edgeke_model_swaps_total').catch(() => new Map());
    await waitFor('the service ready', async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200, 60_000, 200);
    const v1 = await version();
    expect(v1).toMatch(/^[0-9a-f]{12}$/);

    const load = loadGenerator();
    let published: string[] = [];
    try {
      await waitFor('results from the first model', () => results.some((r) => r.model_version === v1), 30_000);

      // 1. The folder replaced by a new one renamed into place (the old one moved aside first).
      const swap1Ts = Date.now();
      renameSync(serving, join(dir.path, 'bearing-v1-old'));
      renameSync(join(dir.path, 'bearing-v2'), serving);
      await waitFor('the replaced folder swapped in', async () => ((await version()) ?? v1) !== v1, 60_000, 100);
      const v2 = await version();
      await waitFor('results from the second model', () => results.some((r) => r.model_version === v2), 30_000);
      expect((await swaps()).get('{folder="' + serving + '",result="ok",reason="none"}')).toBe(1);

      // 2. A broken replacement: counted and logged; the second model keeps serving.
      renameSync(serving, join(dir.path, 'bearing-v2-old'));
      renameSync(join(dir.path, 'bearing-broken'), serving);
      await waitFor('the broken model refused', async () => ((await swaps()).get(`{folder="${serving}",result="failed",reason="load-failed"}`) ?? 0) >= 1, 60_000, 100);
      expect(await version()).toBe(v2);
      const afterBroken = results.length;
      await waitFor('results after the refusal', () => results.length > afterBroken + RATE_HZ, 30_000);
      expect(results.slice(afterBroken).every((r) => r.model_version === v2)).toBe(true);

      // A model with another input (the camera model) in its place: refused too, as input-changed.
      renameSync(serving, join(dir.path, 'bearing-broken-old'));
      cpSync('models/neu-surface', serving, { recursive: true });
      await waitFor('the other input refused', async () => ((await swaps()).get(`{folder="${serving}",result="failed",reason="input-changed"}`) ?? 0) >= 1, 60_000, 100);
      expect(await version()).toBe(v2);

      // 3. The flow file points at another folder: loaded beside, switched in live (config version 2).
      writeFileSync(`${flowFile}.tmp`, flowYaml(join(modelsDir, 'bearing-b'), database));
      renameSync(`${flowFile}.tmp`, flowFile);
      const isNew = (r: ResultMessage): boolean => r.model_version !== v1 && r.model_version !== v2;
      await waitFor('results from the re-pointed model', () => results.some(isNew), 60_000);
      const v3 = results.find(isNew)?.model_version;
      // The flow's config version moved with it (frames in flight finish on the old model, under the new config).
      expect(results.filter((r) => r.model_version === v3 && r.config_version !== 2)).toEqual([]);
      expect(v3).toMatch(/^[0-9a-f]{12}$/);
      expect([v1, v2]).not.toContain(v3);
      await waitFor('a second of results from it', () => results.filter((r) => r.model_version === v3).length > RATE_HZ, 30_000);
      published = await load.stop();

      const influx = influxFor(influxUrl, database);
      type Row = { id: string; outcome: string; reason: string | null; model_version: string };
      let rows: Row[] = [];
      const expected = new Set(published);
      await waitFor(
        'every published frame stored and published',
        async () => {
          rows = await influx.query<Row>(`SELECT "id", "outcome", "reason", "model_version" FROM "edgeke"."inference"`).catch(() => []);
          const stored = new Set(rows.map((row) => row.id));
          const answered = new Set(results.map((r) => r.id));
          return published.every((id) => stored.has(id) && answered.has(id));
        },
        30_000,
        200,
      );
      // Every frame accounted for, once per delivery (at least once: a redelivered frame may have a second result).
      expect(new Set(rows.map((row) => row.id))).toEqual(expected);
      expect(rows.filter((row) => !expected.has(row.id))).toEqual([]);
      // No frame failed across the swaps; every result names a version, one of the three served.
      expect(rows.filter((row) => row.outcome === 'error')).toEqual([]);
      expect(new Set(rows.map((row) => row.model_version))).toEqual(new Set([v1, v2, v3]));
      expect(results.filter((r) => ![v1, v2, v3].includes(r.model_version))).toEqual([]);

      // The versions follow the swaps: everything captured before the first rename is v1; a frame captured after a
      // frame of the next version was answered is never older, beyond the frames in flight at the switch (which finish
      // on the old model: at most one deadline of capture times).
      const byCapture = [...results].sort((a, b) => a.capture_ts - b.capture_ts);
      expect(byCapture.filter((r) => r.capture_ts < swap1Ts && r.model_version !== v1)).toEqual([]);
      const order = [v1, v2, v3];
      const firstOf = (v: string | undefined): number => Math.min(...byCapture.filter((r) => r.model_version === v).map((r) => r.capture_ts));
      for (let k = 1; k < order.length; k++) {
        const older = byCapture.filter((r) => order.indexOf(r.model_version) < k && r.capture_ts > firstOf(order[k]) + DEADLINE_MS);
        expect(older, `results of a replaced model captured well after v${k + 1} took over`).toEqual([]);
      }
      const outcomes = new Map<string, number>();
      for (const row of rows) outcomes.set(`${row.model_version}/${row.outcome}`, (outcomes.get(`${row.model_version}/${row.outcome}`) ?? 0) + 1);
      const onTime = rows.filter((row) => row.outcome === 'ok').length / rows.length;
      console.info(`[model swap] ${published.length} frames published at ${RATE_HZ}/s, ${rows.length} points, on time ${(onTime * 100).toFixed(1)}%; by version/outcome: ${JSON.stringify(Object.fromEntries(outcomes))}`);
      expect(running.output()).toContain('model not swapped in; the serving model keeps serving');
    } finally {
      if (published.length === 0) await load.stop().catch(() => undefined);
      await subscriber.endAsync();
    }
    running.process.kill('SIGTERM');
    expect(await running.exited, running.output().slice(-2000)).toBe(0);
  });
});

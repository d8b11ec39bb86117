import { spawn } from 'node:child_process';
import { findBinary } from '../../helpers/find-binary.ts';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../helpers/free-port.ts';
import { influxFor, signalFlowYaml, tempDir, waitFor } from './harness.ts';
import { killEdgeke, runEdgeke, type EdgekeChild } from '../../helpers/edgeke-child.ts';

// Skewed device clocks, checked from outside: a real `edgeke run` child process; two devices, each an mqtt.js client
// in a process of its own, stamp their frames from their own clocks, one 300 ms ahead and one 5 s behind; results
// read back from InfluxDB, the skew and counts from the child's /metrics, the warning from its log. Then two devices
// on one topic, told apart by their id prefix (`clocks.deviceKey: id-prefix`), each a mosquitto_pub process.

const mqttUrl = inject('mosquittoUrl');
const MOSQUITTO_PUB = findBinary('mosquitto_pub', 'mosquitto-clients');
const influxUrl = inject('influxUrl');
const dir = tempDir('clocks');
const stamp = `${process.pid}-${Date.now()}`;
const TOPICS = `clocks/${stamp}/+`;
const AHEAD = `clocks/${stamp}/ahead`;
const BEHIND = `clocks/${stamp}/behind`;
const FRAMES = 20;
/** The end-to-end histogram's sum series (its unit suffix aside). */
const E2E_SUM = /^edgeke_frame_e2e_latency_\w+_sum/;

/**
 * A device whose clock is `offsetMs` off ours: every frame stamped `Date.now() + offsetMs` just before it is published
 * (QoS 1, MQTT 5), `FRAMES` frames 25 ms apart. Exits 0 once the broker has acknowledged them all.
 */
function device(topic: string, prefix: string, offsetMs: number): Promise<number | null> {
  const script = `
    import mqtt from 'mqtt';
    const [url, topic, prefix, offset, count] = process.argv.slice(1);
    const client = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: prefix + '-' + process.pid });
    for (let i = 0; i < Number(count); i++) {
      const values = Array.from({ length: 256 }, (_, k) => Math.sin((k + i) / 7));
      const ts = Date.now() + Number(offset);
      await client.publishAsync(topic, JSON.stringify({ id: prefix + '-' + i, ts, values }), { qos: 1 });
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    await client.endAsync();
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, mqttUrl, topic, prefix, String(offsetMs), String(FRAMES)], { stdio: ['ignore', 'inherit', 'inherit'] });
  return new Promise((resolve) => child.once('exit', resolve));
}

/**
 * A device as mosquitto_pub (`-l`: one message per stdin line, QoS 1, MQTT 5): `FRAMES` frames `<prefix>-<i>` on
 * `topic`, each stamped `Date.now() + offsetMs` as it is written to the client, 25 ms apart. Exits 0 once all are sent.
 */
async function mosquittoDevice(topic: string, prefix: string, offsetMs: number): Promise<number | null> {
  const url = new URL(mqttUrl);
  const child = spawn(MOSQUITTO_PUB, ['-h', url.hostname, '-p', url.port, '-V', 'mqttv5', '-q', '1', '-t', topic, '-i', `${prefix}-${process.pid}`, '-l'], { stdio: ['pipe', 'inherit', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  for (let i = 0; i < FRAMES; i++) {
    const values = Array.from({ length: 256 }, (_, k) => Math.sin((k + i) / 7));
    child.stdin.write(`${JSON.stringify({ id: `${prefix}-${i}`, ts: Date.now() + offsetMs, values })}\n`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  child.stdin.end();
  return exited;
}

/** Values of one metric, by its label set as written in the exposition. */
async function series(port: number, name: string | RegExp): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const labels = line.indexOf('{');
    const metric = line.slice(0, labels);
    if (labels < 0 || (typeof name === 'string' ? metric !== name : !name.test(metric))) continue;
    values.set(line.slice(labels, line.lastIndexOf(' ')), Number(line.split(' ').at(-1)));
  }
  return values;
}

describe('device clocks ahead and behind, against a running edgeke (from outside)', () => {
  let child: EdgekeChild | undefined;

  afterAll(async () => {
    await killEdgeke(child);
    dir.remove();
  });

  it('never reports a negative latency, exports and logs the skew of each device, and sheds the stale frames', async () => {
    const flow = 'clocks';
    const database = `rel_clocks_${process.pid}`;
    const file = join(dir.path, 'clocks.yaml');
    // 2 s deadline: an answered frame makes it on a busy machine; a frame stamped 5 s ago cannot, so it is shed.
    writeFileSync(file, signalFlowYaml({ name: flow, mqttUrl, topic: TOPICS, influxUrl, database, policy: 'mode: deadline, deadlineMs: 2000, latePolicy: shed' }));
    const port = await freePort();
    const running = runEdgeke([file, '--no-watch'], { EDGEKE_HTTP_HOST: '127.0.0.1', EDGEKE_HTTP_PORT: String(port) });
    child = running;
    await waitFor('the service ready', async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200, 60_000, 200);

    expect(await Promise.all([device(AHEAD, 'ahead', 300), device(BEHIND, 'behind', -5_000)])).toEqual([0, 0]);

    const influx = influxFor(influxUrl, database);
    type Row = { id: string; outcome: string; reason: string | null; e2e_ms: number; capture_ts_source: string; device: string | null };
    let rows: Row[] = [];
    await waitFor(
      'every frame stored',
      async () => {
        rows = await influx.query<Row>(`SELECT "id", "outcome", "reason", "e2e_ms", "capture_ts_source", "device" FROM "edgeke"."inference"`).catch(() => []);
        return rows.length >= 2 * FRAMES;
      },
      30_000,
      200,
    );
    const ahead = rows.filter((row) => row.id.startsWith('ahead-'));
    const behind = rows.filter((row) => row.id.startsWith('behind-'));
    expect(new Set(ahead.map((row) => row.id)).size).toBe(FRAMES);
    expect(new Set(behind.map((row) => row.id)).size).toBe(FRAMES);
    // Latencies are never negative, in InfluxDB ...
    expect(Math.min(...rows.map((row) => row.e2e_ms))).toBeGreaterThanOrEqual(0);
    // ... the frames from the clock ahead are answered, timed from their receive time (not 300 ms in the future) ...
    expect(ahead.filter((row) => row.outcome !== 'ok')).toEqual([]);
    expect(ahead.filter((row) => row.capture_ts_source === 'receive').length, 'frames whose ts was still ahead on arrival').toBeGreaterThan(FRAMES / 2);
    // ... and the stale ones follow the late policy (shed: their 2 s deadline passed before they arrived).
    expect(behind.map((row) => `${row.outcome}/${row.reason}`)).toEqual(new Array(FRAMES).fill('shed/no-slack'));
    expect(Math.min(...behind.map((row) => row.e2e_ms))).toBeGreaterThanOrEqual(5_000);
    // Every point names the device its skew was attributed to (the topic: clocks.deviceKey defaults to topic).
    expect(new Set(ahead.map((row) => row.device))).toEqual(new Set([AHEAD]));
    expect(new Set(behind.map((row) => row.device))).toEqual(new Set([BEHIND]));

    // The skew of each device, exported in seconds (positive: its clock is ahead) ...
    const skew = await series(port, 'edgeke_device_clock_skew_seconds');
    const aheadSkew = skew.get(`{flow="${flow}",device="${AHEAD}"}`) ?? Number.NaN;
    const behindSkew = skew.get(`{flow="${flow}",device="${BEHIND}"}`) ?? Number.NaN;
    // Transit only lowers the estimate: 300 ms less the fastest frames' transit (a few ms; 100 ms of margin).
    expect(aheadSkew).toBeLessThanOrEqual(0.3);
    expect(aheadSkew).toBeGreaterThan(0.2);
    expect(behindSkew).toBeLessThanOrEqual(-5);
    expect(behindSkew).toBeGreaterThan(-5.1);
    // ... the untrusted capture times counted, as many as the results say ...
    const untrusted = await series(port, 'edgeke_capture_time_untrusted_total');
    expect(untrusted.get(`{flow="${flow}"}`)).toBe(ahead.filter((row) => row.capture_ts_source === 'receive').length);
    // ... and no negative latency in the Prometheus histogram either (its sum is over answered frames).
    const e2eSums = await series(port, E2E_SUM);
    expect(e2eSums.size).toBeGreaterThan(0);
    for (const value of e2eSums.values()) expect(value).toBeGreaterThanOrEqual(0);
    // Each device logged once as it crossed the threshold.
    const warnings = running.output().split('\n').filter((line) => line.includes('"device clock '));
    expect(warnings.filter((line) => line.includes(AHEAD) && line.includes('ahead of ours'))).toHaveLength(1);
    expect(warnings.filter((line) => line.includes(BEHIND) && line.includes('behind ours'))).toHaveLength(1);

    running.process.kill('SIGTERM');
    const code = await running.exited;
    expect(code, running.output().slice(-2000)).toBe(0);
    console.info(
      `[reliability] device clocks: skew ahead ${(aheadSkew * 1000).toFixed(0)} ms, behind ${(behindSkew * 1000).toFixed(0)} ms; ${untrusted.get(`{flow="${flow}"}`)}/${FRAMES} future capture times replaced; min e2e ${Math.min(...rows.map((row) => row.e2e_ms)).toFixed(1)} ms`,
    );
  });

  it('with clocks.deviceKey id-prefix, tells apart devices on one topic by their id prefix (mosquitto_pub devices)', async () => {
    const flow = 'clocks-by-id';
    const topic = `clocks/${stamp}/shared`;
    const file = join(dir.path, 'clocks-by-id.yaml');
    writeFileSync(file, `${signalFlowYaml({ name: flow, mqttUrl, topic, policy: 'mode: deadline, deadlineMs: 2000, latePolicy: shed' })}clocks: { deviceKey: id-prefix }\n`);
    const port = await freePort();
    const running = runEdgeke([file, '--no-watch'], { EDGEKE_HTTP_HOST: '127.0.0.1', EDGEKE_HTTP_PORT: String(port) });
    child = running;
    await waitFor('the service ready', async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200, 60_000, 200);

    // Two cameras on one topic: cam7's clock 2 s ahead, cam8's 5 s behind.
    expect(await Promise.all([mosquittoDevice(topic, 'cam7', 2_000), mosquittoDevice(topic, 'cam8', -5_000)])).toEqual([0, 0]);
    const frames = async (): Promise<number> => [...(await series(port, 'edgeke_frames_total')).values()].reduce((a, b) => a + b, 0);
    await waitFor('every frame settled', async () => (await frames()) === 2 * FRAMES, 30_000, 200);

    const skew = await series(port, 'edgeke_device_clock_skew_seconds');
    expect([...skew.keys()].sort()).toEqual([`{flow="${flow}",device="cam7"}`, `{flow="${flow}",device="cam8"}`]);
    const cam7 = skew.get(`{flow="${flow}",device="cam7"}`) ?? Number.NaN;
    const cam8 = skew.get(`{flow="${flow}",device="cam8"}`) ?? Number.NaN;
    // Transit (a pipe, then the broker) only lowers the estimate: within 200 ms under the truth.
    expect(cam7).toBeLessThanOrEqual(2);
    expect(cam7).toBeGreaterThan(1.8);
    expect(cam8).toBeLessThanOrEqual(-5);
    expect(cam8).toBeGreaterThan(-5.2);
    // Every future capture time replaced; every stale frame shed by the late policy.
    expect((await series(port, 'edgeke_capture_time_untrusted_total')).get(`{flow="${flow}"}`)).toBe(FRAMES);
    expect((await series(port, 'edgeke_frames_total')).get(`{flow="${flow}",outcome="shed",reason="no-slack"}`)).toBe(FRAMES);
    const warnings = running.output().split('\n').filter((line) => line.includes('"device clock '));
    expect(warnings.filter((line) => line.includes('"device":"cam7"') && line.includes('ahead of ours'))).toHaveLength(1);
    expect(warnings.filter((line) => line.includes('"device":"cam8"') && line.includes('behind ours'))).toHaveLength(1);

    running.process.kill('SIGTERM');
    expect(await running.exited, running.output().slice(-2000)).toBe(0);
    console.info(`[reliability] device clocks by id prefix (mosquitto_pub): cam7 ${(cam7 * 1000).toFixed(0)} ms, cam8 ${(cam8 * 1000).toFixed(0)} ms`);
  });
});

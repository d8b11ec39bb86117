/**
 * Model swaps under load: what a swap costs in deadline misses. `edgeke run` (its own process, real Mosquitto) serves
 * the shipped camera model at a steady load; its model folder is replaced twice while frames flow:
 *   measured   a new version, whose latency profile the service measures during the swap (first swap of a model);
 *   cached     back to the first version, whose profile is cached (every swap prepared with `edgeke profile`).
 * Each frame's outcome is read from the results topic. On-time share of the frames captured in the `--window` seconds
 * after each swap is triggered, against the same share over windows without a swap (the baseline), and the time from
 * the trigger to the first answer of the new version.
 *
 *   node --import tsx bench/model-swap.ts [--rate 40] [--deadline-ms 100] [--window 5] [--baseline-seconds 15]
 * Writes bench/results/model-swap.json.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { readManifest } from '../src/model/manifest.ts';
import { loadLabelledImages } from '../src/simulators/neu-images.ts';
import { startMosquitto } from '../test/helpers/mosquitto.ts';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '40' },
    'deadline-ms': { type: 'string', default: '100' },
    window: { type: 'string', default: '5' },
    'baseline-seconds': { type: 'string', default: '15' },
  },
});
const RATE = Number(values.rate);
const DEADLINE_MS = Number(values['deadline-ms']);
const WINDOW_MS = Number(values.window) * 1_000;
const BASELINE_MS = Number(values['baseline-seconds']) * 1_000;
const root = resolve(import.meta.dirname, '..');
const TOPIC = 'bench/model-swap/camera';
const RESULTS = 'bench/model-swap/results';

interface Result {
  id: string;
  capture_ts: number;
  outcome: string;
  model_version?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'edgeke-bench-swap-'));
try {
  const broker = await startMosquitto({ dir: join(dir, 'mosquitto') });
  const work = join(dir, 'work');
  const model = join(work, 'models', 'neu');
  cpSync(join(root, 'models/neu-surface'), model, { recursive: true });
  // The second version: the same graphs, exit 1 recalibrated (another content hash, so another profile).
  const v2 = join(work, 'neu-v2');
  cpSync(join(root, 'models/neu-surface'), v2, { recursive: true });
  const manifestFile = join(v2, 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as { exits: { validationAccuracy: number }[] };
  (manifest.exits[0] as { validationAccuracy: number }).validationAccuracy -= 0.001;
  writeFileSync(manifestFile, JSON.stringify(manifest, null, 2));
  writeFileSync(
    join(work, 'flow.yaml'),
    [
      'name: swap-bench',
      `source: { kind: mqtt, url: "${broker.url}", topic: ${TOPIC}, qos: 0, protocolVersion: 4 }`,
      'decode: image',
      `model: { path: ${model}, engine: onnx, threads: 1 }`,
      `policy: { mode: deadline, deadlineMs: ${DEADLINE_MS}, latePolicy: shed }`,
      `sinks: { mqttResults: { topic: ${RESULTS}, qos: 0 } }`,
      '',
    ].join('\n'),
  );

  const results: Result[] = [];
  const listener = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clientId: `swap-bench-listener-${process.pid}` });
  listener.on('message', (_topic, payload) => results.push(JSON.parse(payload.toString('utf8')) as Result));
  await listener.subscribeAsync(RESULTS, { qos: 0 });
  const camera = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clientId: `swap-bench-camera-${process.pid}` });
  const classes = (await readManifest(model)).classes;
  const images = (await loadLabelledImages(join(root, 'data/neu-surface/test'), classes)).slice(0, 40);
  const envelopes = images.map((image) => JSON.stringify({ id: 'ID', ts: 0, image: image.bytes.toString('base64') }));

  const child = spawn(process.execPath, [join(root, 'bin/edgeke.js'), 'run', join(work, 'flow.yaml')], {
    cwd: work,
    env: { ...process.env, EDGEKE_HTTP_PORT: '0', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let seq = 0;
  const timer = setInterval(() => {
    const envelope = envelopes[seq % envelopes.length] as string;
    const id = `f${seq}`;
    seq += 1;
    void camera.publishAsync(TOPIC, envelope.replace('"ID"', `"${id}"`).replace('"ts":0', `"ts":${Date.now()}`), { qos: 0 });
  }, 1_000 / RATE);

  try {
    await until('the first answer', () => results.length > 0, 60_000);
    // Frames from here on count: those published before the service had subscribed were never offered to it (QoS 0).
    const firstCounted = seq;
    const v1 = results[0]?.model_version;
    await sleep(3_000 + BASELINE_MS);
    const baselineTo = Date.now() - 2 * DEADLINE_MS;
    const baselineFrom = baselineTo - BASELINE_MS;

    const swaps: { kind: string; triggerTs: number; version?: string }[] = [];
    const swapTo = async (kind: string, from: string, aside: string): Promise<void> => {
      const triggerTs = Date.now();
      renameSync(model, aside);
      renameSync(from, model);
      const before = new Set(results.map((r) => r.model_version));
      // The first result of the version taking over: a new one, or (back to v1) one of v1 captured after the trigger.
      const taking = (r: Result): boolean => (kind === 'cached' ? r.model_version === v1 && r.capture_ts > triggerTs : !before.has(r.model_version));
      await until(`the ${kind} swap`, () => results.some(taking), 60_000);
      swaps.push({ kind, triggerTs, version: results.find(taking)?.model_version });
      await sleep(WINDOW_MS + 2 * DEADLINE_MS);
    };
    await swapTo('measured', v2, join(work, 'neu-v1'));
    await swapTo('cached', join(work, 'neu-v1'), join(work, 'neu-v2-old'));
    clearInterval(timer);
    const lastCounted = seq;
    await sleep(2_000);
    const answeredIds = new Set(results.map((r) => r.id));
    let missing = 0;
    for (let i = firstCounted; i < lastCounted; i++) if (!answeredIds.has(`f${i}`)) missing += 1;

    const onTime = (from: number, to: number): { frames: number; ok: number; share: number } => {
      const frames = results.filter((r) => r.capture_ts >= from && r.capture_ts < to);
      const ok = frames.filter((r) => r.outcome === 'ok').length;
      return { frames: frames.length, ok, share: frames.length === 0 ? 0 : ok / frames.length };
    };
    const baseline = onTime(baselineFrom, baselineTo);
    const result = {
      bench: 'model-swap',
      measuredAt: new Date().toISOString(),
      machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: availableParallelism(), loadavg1m: Number(loadavg()[0]?.toFixed(2)) },
      what: `neu-surface (camera, JPEG in JSON envelopes) at ${RATE} fr/s, deadline ${DEADLINE_MS} ms, shed when late; the model folder replaced by a rename while frames flow; on-time share of frames captured in the ${WINDOW_MS / 1000} s after each trigger, against ${BASELINE_MS / 1000} s before any swap`,
      rate_fps: RATE,
      deadline_ms: DEADLINE_MS,
      offered_after_first_answer: lastCounted - firstCounted,
      without_result: missing,
      baseline_on_time: baseline,
      swaps: swaps.map((swap) => {
        const firstNew = results.filter((r) => r.model_version === swap.version && r.capture_ts >= swap.triggerTs).sort((a, b) => a.capture_ts - b.capture_ts)[0];
        return {
          profile: swap.kind,
          version: swap.version,
          switch_ms: firstNew === undefined ? null : Math.round(firstNew.capture_ts - swap.triggerTs),
          on_time: onTime(swap.triggerTs, swap.triggerTs + WINDOW_MS),
        };
      }),
    };
    mkdirSync(join(root, 'bench/results'), { recursive: true });
    writeFileSync(join(root, 'bench/results/model-swap.json'), `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result, null, 2));
  } finally {
    clearInterval(timer);
    child.kill('SIGTERM');
    await new Promise((done) => (child.exitCode === null ? child.once('exit', done) : done(undefined)));
    await Promise.all([listener.endAsync(), camera.endAsync()]);
    await broker.process.stop();
    if (child.exitCode !== 0 && stderr !== '') console.error(stderr.slice(-2_000));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

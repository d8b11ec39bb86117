import { execFile } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { findBinary } from '../../helpers/find-binary.ts';
import { freePort } from '../../helpers/free-port.ts';
import { solidPng } from '../../helpers/hostile-images.ts';
import { killEdgeke, runEdgeke, type EdgekeChild } from '../../helpers/edgeke-child.ts';
import { SIGNAL_MODEL, tempDir, waitFor } from './harness.ts';

// /readyz across hot reload, checked from outside: a real `edgeke run` child in a fresh working directory (no cached
// latency profile, so the shipped NEU model is profiled on start, which takes seconds), /readyz polled all along, a
// frame sent by mosquitto_pub (a separate process, as a device would) as soon as it says ready.
//  - a flow file added while running keeps /readyz false while its model loads and profiles, until the flow serves;
//  - a flow whose model changes is not ready again until the new model serves;
//  - a rejected flow file does not block readiness; /readyz names it as a notice while it stays broken.

const run = promisify(execFile);
const MOSQUITTO_PUB = findBinary('mosquitto_pub', 'mosquitto-clients');
const mqttUrl = new URL(inject('mosquittoUrl'));
const dir = tempDir('readyz');
const flowsDir = join(dir.path, 'flows');
mkdirSync(flowsDir);
const stamp = `${process.pid}-${Date.now()}`;
const CAMERA_TOPIC = `readyz/${stamp}/camera`;
const SENSOR_TOPIC = `readyz/${stamp}/sensor`;
const NEU_MODEL = resolve('models/neu-surface');

function cameraYaml(threads: number): string {
  return `name: camera
source: { kind: mqtt, url: "${mqttUrl.href}", topic: "${CAMERA_TOPIC}", qos: 1, clientId: readyz-camera-${stamp} }
decode: image
model: { path: "${NEU_MODEL}", threads: ${threads} }
policy: { deadlineMs: 10000, latePolicy: answer-late }
`;
}

function sensorYaml(deadlineMs: number | string): string {
  return `name: sensor
source: { kind: mqtt, url: "${mqttUrl.href}", topic: "${SENSOR_TOPIC}", qos: 1, clientId: readyz-sensor-${stamp} }
decode: json-values
model: { path: "${resolve(SIGNAL_MODEL)}" }
policy: { deadlineMs: ${deadlineMs}, latePolicy: answer-late }
`;
}

/** Editors replace files on save: write aside, then rename over. */
function save(name: string, text: string): void {
  const file = join(flowsDir, name);
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

interface Check {
  name: string;
  ok: boolean;
  detail?: string;
}

interface ReadyzAnswer {
  status: number;
  checks: Check[];
  notices: { name: string; detail: string }[];
}

async function readyz(port: number): Promise<ReadyzAnswer> {
  const response = await fetch(`http://127.0.0.1:${port}/readyz`);
  const body = (await response.json()) as { checks: Check[]; notices: ReadyzAnswer['notices'] };
  return { status: response.status, checks: body.checks, notices: body.notices };
}

/** Polls /readyz every 20 ms into `answers` until stopped. */
function pollReadyz(port: number): { answers: ReadyzAnswer[]; stop: () => Promise<void> } {
  const answers: ReadyzAnswer[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      answers.push(await readyz(port));
      await new Promise((done) => setTimeout(done, 20));
    }
  })();
  return {
    answers,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

/** Answered camera frames (any outcome but error), from the child's /metrics. */
async function cameraAnswers(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('edgeke_frames_total{') && line.includes('flow="camera"') && !line.includes('outcome="error"'))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

const checkOf = (answer: ReadyzAnswer, name: string): Check | undefined => answer.checks.find((check) => check.name === name);

describe('/readyz across hot reload, against a running edgeke (from outside)', () => {
  let child: EdgekeChild | undefined;

  afterAll(async () => {
    await killEdgeke(child);
    dir.remove();
  });

  it('is false while an added flow loads and profiles its model, until it serves; stays true through a live model swap; a rejected file is a notice', async () => {
    save('sensor.yaml', sensorYaml(4000));
    const port = await freePort();
    const running = runEdgeke([flowsDir], { EDGEKE_HTTP_HOST: '127.0.0.1', EDGEKE_HTTP_PORT: String(port), EDGEKE_STATE_DIR: join(dir.path, 'state') }, dir.path);
    child = running;
    await waitFor('the service ready', async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200, 60_000, 100);
    const image = join(dir.path, 'frame.png');
    writeFileSync(image, await solidPng(200, 200));
    const sendCameraFrame = (): Promise<unknown> => run(MOSQUITTO_PUB, ['-h', mqttUrl.hostname, '-p', mqttUrl.port, '-V', 'mqttv5', '-q', '1', '-t', CAMERA_TOPIC, '-f', image], { timeout: 30_000 });

    /**
     * From the moment the camera's model check appears not serving until the first 200: every answer 503, at least
     * one of them naming the phase (profiling, restarting); the first 200 has the model serving, and a frame sent at
     * once is answered.
     */
    const expectNotReadyUntilServing = async (what: string, notReadyDetail: RegExp): Promise<void> => {
      const poll = pollReadyz(port);
      const serving = (answer: ReadyzAnswer): boolean => checkOf(answer, 'camera:model')?.detail === 'serving';
      let startedAt = -1;
      let servingAt = -1;
      try {
        await waitFor(
          `${what}: ready with the camera serving`,
          () => {
            startedAt = poll.answers.findIndex((answer) => checkOf(answer, 'camera:model') !== undefined && !serving(answer));
            servingAt = startedAt < 0 ? -1 : poll.answers.findIndex((answer, index) => index > startedAt && answer.status === 200);
            return servingAt >= 0;
          },
          90_000,
          20,
        );
      } finally {
        await poll.stop();
      }
      // A restarted flow's counters start again from zero.
      const answeredBefore = await cameraAnswers(port);
      await sendCameraFrame();
      await waitFor(`${what}: the frame sent on the first 200 answered`, async () => (await cameraAnswers(port)) === answeredBefore + 1, 30_000);
      expect(serving(poll.answers[servingAt] as ReadyzAnswer), `${what}: the first 200 has the camera serving`).toBe(true);
      const whileStarting = poll.answers.slice(startedAt, servingAt);
      // Not ready until the model serves and the source has subscribed.
      expect(whileStarting.filter((answer) => answer.status !== 503)).toEqual([]);
      expect(whileStarting.some((answer) => notReadyDetail.test(checkOf(answer, 'camera:model')?.detail ?? '')), `${what}: seen ${notReadyDetail.source}`).toBe(true);
      // The other flow is not held back: its checks pass all along.
      expect(whileStarting.filter((answer) => checkOf(answer, 'sensor:model')?.ok !== true || checkOf(answer, 'sensor:source')?.ok !== true)).toEqual([]);
      console.info(`[reliability] readyz, ${what}: ${whileStarting.length} answers 503 while the camera started (${[...new Set(whileStarting.map((answer) => checkOf(answer, 'camera:model')?.detail))].join(', ')})`);
    };

    // A flow added while running: not ready while the NEU model loads and is profiled.
    save('camera.yaml', cameraYaml(1));
    await expectNotReadyUntilServing('added flow', /^profiling model /);

    // A broken file does not block readiness: it is a notice, and logged.
    save('broken.yaml', sensorYaml('"soon"').replace('name: sensor', 'name: broken'));
    await waitFor('the broken file rejected', () => running.output().includes('"flow file rejected') && running.output().includes('broken.yaml'), 15_000);
    let answer = await readyz(port);
    expect(answer.status).toBe(200);
    expect(answer.notices).toEqual([{ name: `file:${join(flowsDir, 'broken.yaml')}`, detail: expect.stringContaining('policy.deadlineMs') }]);

    // A valid file whose model cannot load (an operator TensorFlow.js lacks): it starts nothing, and is a notice too.
    save('unloadable.yaml', cameraYaml(1).replace('name: camera', 'name: unloadable').replace(`"${NEU_MODEL}", threads: 1`, `"${resolve('test/fixtures/tiny-model/unsupported-op')}", engine: tfjs`));
    await waitFor('the unloadable flow reported', async () => (await readyz(port)).notices.some((notice) => notice.name === 'unloadable:config'), 30_000);
    answer = await readyz(port);
    expect(answer.status).toBe(200);
    expect(answer.notices.find((notice) => notice.name === 'unloadable:config')?.detail).toMatch(/^could not start, runs nothing: .*Tanh/);
    expect(answer.checks.filter((check) => check.name.startsWith('unloadable:'))).toEqual([]);
    rmSync(join(flowsDir, 'unloadable.yaml'));

    // A changed model (another thread count: a new runtime and profile) while the broken file stays broken: a live
    // model swap (docs/model-swaps.md). The old model serves while the new one loads, so the service stays ready.
    const poll = pollReadyz(port);
    try {
      save('camera.yaml', cameraYaml(2));
      await waitFor('the camera switched to its new model', () => running.output().includes('flow switched to its new model'), 90_000);
    } finally {
      await poll.stop();
    }
    expect(poll.answers.length).toBeGreaterThan(0);
    expect(poll.answers.filter((polled) => polled.status !== 200 || checkOf(polled, 'camera:model')?.detail !== 'serving')).toEqual([]);
    const answeredBeforeSwap = await cameraAnswers(port);
    await sendCameraFrame();
    await waitFor('a frame after the swap answered', async () => (await cameraAnswers(port)) === answeredBeforeSwap + 1, 30_000);
    answer = await readyz(port);
    expect(answer.notices.map((notice) => notice.name)).toEqual([`file:${join(flowsDir, 'broken.yaml')}`]);

    // Fixed (removed): the notice goes.
    rmSync(join(flowsDir, 'broken.yaml'));
    await waitFor('the notice gone', async () => (await readyz(port)).notices.length === 0, 15_000);
    expect((await readyz(port)).status).toBe(200);

    running.process.kill('SIGTERM');
    const code = await running.exited;
    expect(code, running.output().slice(-2000)).toBe(0);
  });
});

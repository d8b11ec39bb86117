import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { FrameResult } from '../../../src/core/frame.ts';
import { loadFlow, startTestService, tempDir, type TestService } from '../reliability/harness.ts';

// Two flows on one machine (issue #13): a camera flow overloaded far beyond its model's capacity must not make the
// vibration flow, on another model in the same process, miss its deadlines. Both loads come from other processes
// (bench/lib/overload-loadgen.ts) through the real broker; the service runs here so every result can be counted.

const ROOT = resolve(import.meta.dirname, '../../..');
const CAMERA_FPS = 500;
const VIBRATION_FPS = 20;
const SECONDS = 6;

interface Offered {
  prefix: string;
  ts: number[];
}

/** Runs the load generator in its own process; resolves with what it offered. */
function offer(dir: string, args: string[], name: string): Promise<Offered> {
  const out = join(dir, `${name}.json`);
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/lib/overload-loadgen.ts'), ...args, '--prefix', name, '--out', out], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', fail);
    child.on('exit', (code) => (code === 0 ? done(JSON.parse(readFileSync(out, 'utf8')) as Offered) : fail(new Error(`${name} load generator exited ${code}: ${stderr}`))));
  });
}

function flowYaml(name: string, body: string): string {
  return `name: ${name}\n${body}`;
}

describe('two flows on one machine', () => {
  const dir = tempDir('fair-share');
  let running: TestService | undefined;
  afterAll(async () => {
    await running?.stop(5_000);
    dir.remove();
  });

  it(`a ${CAMERA_FPS} fr/s burst on the camera flow does not make the vibration flow miss its deadlines`, async () => {
    const mqttUrl = inject('mosquittoUrl');
    const results = new Map<string, FrameResult[]>();
    const camera = loadFlow(
      flowYaml(
        'fair-camera',
        `source: { kind: mqtt, url: "${mqttUrl}", topic: fair/cam1/camera, qos: 1, clientId: fair-camera }\ndecode: image\nmodel: { path: models/neu-surface, engine: onnx, threads: 1 }\npolicy: { mode: deadline, deadlineMs: 50, confidenceStop: "0.95", latePolicy: shed }\nbatching: { maxBatch: 8, maxWaitMs: 5 }\n`,
      ),
    );
    const vibration = loadFlow(
      flowYaml(
        'fair-vibration',
        `source: { kind: mqtt, url: "${mqttUrl}", topic: fair/bearing/vibration, qos: 1, clientId: fair-vibration }\ndecode: json-values\nmodel: { path: models/cwru-bearing, engine: onnx }\npolicy: { mode: deadline, deadlineMs: 100, confidenceStop: "0.99", latePolicy: shed }\nlimits: { maxPayloadBytes: 262144 }\n`,
      ),
    );
    running = await startTestService([camera, vibration], {
      profileCacheDir: join(dir.path, 'profiles'),
      logLevel: 'warn',
      keepResults: false,
      onResult: (result) => {
        const list = results.get(result.flow) ?? [];
        list.push(result);
        results.set(result.flow, list);
      },
    });
    const [cameraOffered, vibrationOffered] = await Promise.all([
      offer(dir.path, ['--url', mqttUrl, '--topic', 'fair/cam1/camera', '--dataset', 'neu', '--data', 'data/neu-surface/test', '--classes', 'crazing,inclusion,patches,pitted_surface,rolled-in_scale,scratches', '--segments', `${CAMERA_FPS}:${SECONDS}`], 'cam'),
      offer(dir.path, ['--url', mqttUrl, '--topic', 'fair/bearing/vibration', '--dataset', 'cwru', '--data', 'data/cwru-bearing/test', '--segments', `${VIBRATION_FPS}:${SECONDS}`], 'vib'),
    ]);
    const settled = (flow: string, count: number): boolean => (results.get(flow)?.length ?? 0) >= count;
    const deadline = Date.now() + 60_000;
    while (!(settled('fair-camera', cameraOffered.ts.length) && settled('fair-vibration', vibrationOffered.ts.length)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }

    const cameraResults = results.get('fair-camera') ?? [];
    const vibrationResults = results.get('fair-vibration') ?? [];
    const onTime = vibrationResults.filter((r) => r.outcome === 'ok' && r.deadlineMet).length;
    const cameraShed = cameraResults.filter((r) => r.outcome === 'shed').length;
    const tally = (list: FrameResult[]): string => {
      const counts = new Map<string, number>();
      for (const r of list) counts.set(`${r.outcome}${r.reason === undefined ? '' : `/${r.reason}`}`, (counts.get(`${r.outcome}${r.reason === undefined ? '' : `/${r.reason}`}`) ?? 0) + 1);
      return [...counts].map(([key, count]) => `${key} ${count}`).join(', ');
    };
    console.info(
      `[fair-share] camera offered ${cameraOffered.ts.length}: ${tally(cameraResults)}; vibration offered ${vibrationOffered.ts.length}: ${tally(vibrationResults)}`,
    );
    // Every offered frame of both flows has exactly one outcome.
    expect(new Set(cameraResults.map((r) => r.id)).size).toBe(cameraOffered.ts.length);
    expect(cameraResults).toHaveLength(cameraOffered.ts.length);
    expect(new Set(vibrationResults.map((r) => r.id)).size).toBe(vibrationOffered.ts.length);
    // The camera flow was overloaded: it shed.
    expect(cameraShed).toBeGreaterThan(0);
    // The vibration flow keeps its deadlines. Alone on a quiet machine it kept all 119 of them in every run; but the
    // broker, both load generators and the service share these two cores, and with another process holding one of
    // them (as CI asks) the 500 JPEG frames a second take the main thread long enough that a few vibration frames
    // miss: 1 to 5 of 119 in most runs, before and after this test's service changed, up to 17 once. What is promised
    // is that the camera's overload does not starve the vibration flow. Frames the broker handed over with more than
    // half their deadline gone are not the service's doing: they are counted apart and must stay few; of the others
    // at least 90% are on time (starved, it would be a fraction of that), and all of them are answered.
    const transitMs = (r: FrameResult): number => r.e2eMs - r.queueMs - r.inferMs;
    const receivedInTime = vibrationResults.filter((r) => transitMs(r) <= r.deadlineMs / 2);
    console.info(
      `[fair-share] vibration received with over half the deadline gone: ${vibrationResults.length - receivedInTime.length}; misses: ` +
        vibrationResults.filter((r) => !(r.outcome === 'ok' && r.deadlineMet)).map((r) => `${r.outcome}/${r.reason ?? '-'} transit ${transitMs(r).toFixed(0)} ms`).join(', '),
    );
    expect(vibrationResults).toHaveLength(vibrationOffered.ts.length);
    expect(receivedInTime.length).toBeGreaterThanOrEqual(Math.floor(vibrationOffered.ts.length * 0.8));
    const onTimeReceivedInTime = receivedInTime.filter((r) => r.outcome === 'ok' && r.deadlineMet).length;
    expect(onTimeReceivedInTime).toBeGreaterThanOrEqual(Math.floor(receivedInTime.length * 0.9));
    expect(onTime).toBeGreaterThanOrEqual(Math.floor(vibrationOffered.ts.length * 0.8));
  }, 120_000);
});

import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { findBinary } from '../../helpers/find-binary.ts';
import { freePort } from '../../helpers/free-port.ts';
import { detailedImage, jpegDeclaring, pngDeclaring, solidPng } from '../../helpers/hostile-images.ts';
import { tempDir, waitFor } from './harness.ts';
import { killEdgeke, runEdgeke, type EdgekeChild } from '../../helpers/edgeke-child.ts';

// Hostile input and per-file reload, checked from outside: a real `edgeke run` child process, frames sent by
// mosquitto_pub (a separate process, as a device would), outcomes read from its /metrics, memory from /proc.
//  - images small on the wire that declare huge sizes are answered `image-too-large`, and the process never
//    allocates their pixels (peak RSS flat); truncated JPEGs and PNGs (cut off mid-scan, as a dropped link leaves
//    them) are answered `bad-image` by the real decoder;
//  - an MQTT 3.1.1 source refuses 96 MiB packets without buffering them (peak RSS flat);
//  - with one flow file broken, another file's edit applies; the rejection is logged each time the file changes.

const run = promisify(execFile);
const MOSQUITTO_PUB = findBinary('mosquitto_pub', 'mosquitto-clients');
const mqttUrl = new URL(inject('mosquittoUrl'));
const dir = tempDir('hostile');
const flowsDir = join(dir.path, 'flows');
mkdirSync(flowsDir);
const stamp = `${process.pid}-${Date.now()}`;
const CAMERA_TOPIC = `hostile/${stamp}/camera`;
const SENSOR_TOPIC = `hostile/${stamp}/sensor`;
/** Allowed growth of the service's peak RSS across the image bombs: one decoded bomb would be 256 MiB or more. */
const PEAK_GROWTH_MIB = 40;
/**
 * Across two 96 MiB packets: each would be held whole if buffered. Streamed away, only the socket's 64 KiB reads are
 * allocated, and the garbage they leave before a collection measured about 32 MiB.
 */
const OVERSIZE_PEAK_GROWTH_MIB = 64;

function cameraYaml(deadlineMs: number | string): string {
  return `name: camera
source: { kind: mqtt, url: "${mqttUrl.href}", topic: "${CAMERA_TOPIC}", qos: 1, clientId: hostile-camera-${stamp} }
decode: image
model: { path: test/fixtures/tiny-model/image }
policy: { deadlineMs: ${deadlineMs}, latePolicy: answer-late }
limits: { maxPayloadBytes: 1048576 }
`;
}

function sensorYaml(deadlineMs: number): string {
  return `name: sensor
source: { kind: mqtt, url: "${mqttUrl.href}", topic: "${SENSOR_TOPIC}", qos: 1, clientId: hostile-sensor-${stamp}, protocolVersion: 4, maxPacketBytes: 1048576 }
decode: json-values
model: { path: test/fixtures/tiny-model/signal }
policy: { deadlineMs: ${deadlineMs}, latePolicy: answer-late }
limits: { maxPayloadBytes: 524288 }
`;
}

/** Editors replace files on save: write aside, then rename over. */
function save(name: string, text: string): void {
  const file = join(flowsDir, name);
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

/** One device: mosquitto_pub publishing a file `repeat` times (QoS 1). */
async function publishFile(topic: string, file: string, options: { repeat?: number; version?: 'mqttv5' | 'mqttv311' } = {}): Promise<void> {
  const args = ['-h', mqttUrl.hostname, '-p', mqttUrl.port, '-V', options.version ?? 'mqttv5', '-q', '1', '-t', topic, '-f', file];
  if ((options.repeat ?? 1) > 1) args.push('--repeat', String(options.repeat), '--repeat-delay', '0');
  await run(MOSQUITTO_PUB, args, { timeout: 60_000 });
}

function writeFrame(name: string, bytes: Buffer): string {
  const file = join(dir.path, name);
  writeFileSync(file, bytes);
  return file;
}

/** `edgeke_frames_total` by `flow/outcome/reason` (reason `none` for answers), from the child's own /metrics. */
async function frames(port: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('edgeke_frames_total{')) continue;
    const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((match) => [match[1], match[2]]));
    counts.set(`${labels.flow}/${labels.outcome}/${labels.reason}`, Number(line.split(' ').at(-1)));
  }
  return counts;
}

async function gauge(port: number, name: string, flow: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((entry) => entry.startsWith(`${name}{`) && entry.includes(`flow="${flow}"`));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

/** Peak resident set of a process (VmHWM), in MiB. */
function peakRssMiB(pid: number): number {
  const kib = Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return kib / 1024;
}

describe('hostile devices against a running edgeke (from outside)', () => {
  let child: EdgekeChild | undefined;

  afterAll(async () => {
    await killEdgeke(child);
    dir.remove();
  });

  it('answers image bombs image-too-large and oversize 3.1.1 packets payload-too-large with flat peak memory; a broken flow file blocks only itself', async () => {
    save('camera.yaml', cameraYaml(5000));
    save('sensor.yaml', sensorYaml(4000));
    const port = await freePort();
    const running = runEdgeke([flowsDir], { EDGEKE_HTTP_HOST: '127.0.0.1', EDGEKE_HTTP_PORT: String(port) });
    child = running;
    const pid = running.process.pid ?? 0;
    await waitFor('the service ready', async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200, 60_000, 200);
    const count = async (key: string): Promise<number> => (await frames(port)).get(key) ?? 0;

    // Warm up with good frames, so decoders, pools and the allocator have grown before the baseline.
    const good = writeFrame('good.png', await solidPng(16, 16));
    await publishFile(CAMERA_TOPIC, good, { repeat: 20 });
    await waitFor('the good frames answered', async () => (await count('camera/ok/none')) === 20, 30_000);
    // Captured now: the deadline counts from `ts`.
    const sensorFrame = (): string => writeFrame('sensor.json', Buffer.from(JSON.stringify({ id: 's', ts: Date.now(), values: Array.from({ length: 256 }, (_, i) => Math.sin(i / 7)) })));
    await publishFile(SENSOR_TOPIC, sensorFrame(), { version: 'mqttv311', repeat: 5 });
    await waitFor('the sensor frames answered', async () => (await count('sensor/ok/none')) === 5, 30_000);
    const baseline = peakRssMiB(pid);

    // Image bombs: a PNG declaring 16000x16000 (256 M pixels, under sharp's own limit of 268 M), 30000x30000, a JPEG
    // declaring 65000x65000, and a real 1024x1024 PNG (over 16x the 16x16 model input's side).
    const bombs = [
      { file: writeFrame('png16000.png', pngDeclaring(16_000, 16_000)), repeat: 40 },
      { file: writeFrame('png30000.png', pngDeclaring(30_000, 30_000)), repeat: 40 },
      { file: writeFrame('jpeg65000.jpg', await jpegDeclaring(65_000, 65_000)), repeat: 40 },
      { file: writeFrame('real1024.png', await solidPng(1024, 1024)), repeat: 10 },
    ];
    for (const bomb of bombs) expect(readFileSync(bomb.file).length).toBeLessThan(20_000);
    for (const bomb of bombs) await publishFile(CAMERA_TOPIC, bomb.file, { repeat: bomb.repeat });
    // Truncated files: real 64x64 images cut off at 60%, inside their pixel data (headers intact, sizes allowed).
    const cut = (bytes: Buffer): Buffer => bytes.subarray(0, Math.floor(bytes.length * 0.6));
    const truncated = [writeFrame('truncated.jpg', cut(await detailedImage('jpeg', 64, 64))), writeFrame('truncated.png', cut(await detailedImage('png', 64, 64)))];
    for (const file of truncated) await publishFile(CAMERA_TOPIC, file, { repeat: 10 });
    await publishFile(CAMERA_TOPIC, good, { repeat: 5 });
    await waitFor('every bomb rejected', async () => (await count('camera/error/image-too-large')) === 130, 60_000);
    await waitFor('every truncated image rejected', async () => (await count('camera/error/bad-image')) === 20, 30_000).catch(async (error: unknown) => {
      throw new Error(`outcomes: ${JSON.stringify([...(await frames(port))])}`, { cause: error });
    });
    await waitFor('the good frames behind them answered', async () => (await count('camera/ok/none')) === 25, 30_000);
    const afterImages = peakRssMiB(pid);
    expect(afterImages - baseline, `peak RSS ${baseline.toFixed(0)} -> ${afterImages.toFixed(0)} MiB`).toBeLessThan(PEAK_GROWTH_MIB);

    // MQTT 3.1.1 has no maximum packet size to announce: 96 MiB packets (1 MiB allowed) are dropped as they arrive.
    const huge = writeFrame('huge.bin', Buffer.alloc(96 * 1024 * 1024, 0x7b));
    await publishFile(SENSOR_TOPIC, huge, { version: 'mqttv311', repeat: 2 });
    await publishFile(SENSOR_TOPIC, sensorFrame(), { version: 'mqttv311' });
    await waitFor('the oversize packets rejected', async () => (await count('sensor/error/payload-too-large')) === 2, 60_000);
    await waitFor('the frame behind them answered', async () => (await count('sensor/ok/none')) === 6, 30_000);
    const afterOversize = peakRssMiB(pid);
    expect(afterOversize - afterImages, `peak RSS ${afterImages.toFixed(0)} -> ${afterOversize.toFixed(0)} MiB`).toBeLessThan(OVERSIZE_PEAK_GROWTH_MIB);

    // Per-file reload: camera.yaml broken, sensor.yaml edited: the edit applies, the camera keeps its config.
    const rejections = (): number => running.output().split('\n').filter((line) => line.includes('"flow file rejected') && line.includes('camera.yaml')).length;
    save('camera.yaml', cameraYaml('"soon"'));
    await waitFor('the broken file rejected', () => rejections() === 1, 15_000);
    save('sensor.yaml', sensorYaml(3000));
    await waitFor('the other file applied', async () => (await gauge(port, 'edgeke_flow_deadline_seconds', 'sensor')) === 3, 15_000);
    expect(await gauge(port, 'edgeke_flow_config_version', 'sensor')).toBe(2);
    expect(await gauge(port, 'edgeke_flow_config_version', 'camera')).toBe(1);
    expect(await gauge(port, 'edgeke_flow_deadline_seconds', 'camera')).toBe(5);
    expect(rejections(), 'an unchanged broken file is not logged again').toBe(1);
    // The camera flow still answers, on its last good config.
    await publishFile(CAMERA_TOPIC, good);
    await waitFor('a camera frame answered while its file is broken', async () => (await count('camera/ok/none')) === 26, 30_000);
    // Broken differently: logged again.
    save('camera.yaml', cameraYaml(-1));
    await waitFor('the changed broken file logged again', () => rejections() === 2, 15_000);
    expect(running.output()).toContain('policy.deadlineMs');

    running.process.kill('SIGTERM');
    const code = await running.exited;
    expect(code, running.output().slice(-2000)).toBe(0);
    console.info(
      `[reliability] hostile devices: 130/130 image bombs image-too-large, 20/20 truncated JPEG/PNG bad-image, 2/2 96 MiB MQTT 3.1.1 packets payload-too-large; peak RSS ${baseline.toFixed(0)} -> ${afterImages.toFixed(0)} -> ${afterOversize.toFixed(0)} MiB; per-file reload held`,
    );
  });
});

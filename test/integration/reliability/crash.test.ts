import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../helpers/free-port.ts';
import { startInfluxd, type RunningInfluxd } from '../../helpers/influxd.ts';
import { connectPublisher, duplicates, influxFor, missingIds, publishSteadily, signalFlowYaml, storedIds, tempDir, waitFor } from './harness.ts';
import { exitWithin, runEdgeke, type EdgekeChild } from '../../helpers/edgeke-child.ts';

// Promise 12 (docs/reliability.md): nothing acknowledged is ever lost. A real `edgeke run` child is killed with
// SIGKILL mid-load (InfluxDB up, and InfluxDB down), stopped with SIGTERM while InfluxDB is down, run on a full disk
// and with a log folder it cannot write; after a restart every published frame has exactly one point in InfluxDB.
// Frames carry a device id and capture time, so a frame the broker redelivers lands on its own point.

type Child = EdgekeChild;

function runEdgekeFlow(file: string, env: Record<string, string> = {}): Child {
  return runEdgeke([file, '--no-watch', '--drain-timeout-ms', '5000'], { EDGEKE_HTTP_PORT: '0', ...env });
}

function logBytes(dir: string): number {
  try {
    return readdirSync(dir)
      .filter((name) => name.endsWith('.log'))
      .reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
  } catch {
    return 0;
  }
}

/** A 192 KiB tmpfs: a disk that fills. Needs root (the test machine's user); skipped where mounting is refused. */
function canMountTmpfs(): boolean {
  const probe = mkdtempSync(join(tmpdir(), 'edgeke-mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}
const MOUNT = canMountTmpfs();
const LIMITS = 'queueCapacity: 4096, maxPayloadBytes: 65536';

describe('crashes and broken disks: nothing acknowledged is lost', () => {
  const mqttUrl = inject('mosquittoUrl');
  const dir = tempDir('crash');
  const children: Child[] = [];
  const mounts: string[] = [];
  let influxd: RunningInfluxd;
  let publisher: MqttClient;

  beforeAll(async () => {
    influxd = await startInfluxd({ dir: join(dir.path, 'influxd') });
    publisher = await connectPublisher(mqttUrl, 'rel-crash-publisher');
  });
  afterAll(async () => {
    for (const child of children) if (child.process.exitCode === null) child.process.kill('SIGKILL');
    await Promise.all(children.map((child) => child.exited));
    for (const mount of mounts) execFileSync('umount', ['-l', mount], { stdio: 'ignore' });
    await publisher?.endAsync();
    await influxd?.process.stop();
    dir.remove();
  });

  function flowFile(name: string, influx: string): string {
    const file = join(dir.path, `${name}.yaml`);
    // A queue that takes the backlog a restart leaves: a frame shed before decoding would be stored under a generated
    // id (its own is inside the payload), and this test counts ids.
    writeFileSync(file, signalFlowYaml({ name, mqttUrl, topic: `rel/${name}`, influxUrl: influxd.url, database: name.replaceAll('-', '_'), influx, limits: LIMITS }));
    return file;
  }

  function start(file: string, env: Record<string, string> = {}): Child {
    const child = runEdgekeFlow(file, env);
    children.push(child);
    return child;
  }

  async function started(child: Child): Promise<void> {
    // Subscribed: from here the broker keeps the flow's frames in its persistent session.
    await waitFor('source subscribed', () => child.output().includes('mqtt source connected'), 60_000, 50);
  }

  async function expectExactlyOnce(database: string, prefix: string, published: number): Promise<void> {
    const influx = influxFor(influxd.url, database);
    try {
      await waitFor('every frame stored', async () => missingIds(await storedIds(influx), prefix, published).length === 0, 60_000, 250);
    } catch (error) {
      const missing = missingIds(await storedIds(influx), prefix, published);
      throw new Error(`${missing.length} of ${published} missing (${missing.slice(0, 5).join(', ')} ... ${missing.slice(-3).join(', ')}); last child said:\n${children.at(-1)?.output().slice(-3_000)}`, { cause: error });
    }
    const ids = await storedIds(influx);
    expect(missingIds(ids, prefix, published)).toEqual([]);
    expect(duplicates(ids)).toEqual([]);
    expect(ids.filter((id) => id.startsWith(`${prefix}-`)).length).toBe(published);
  }

  it('kill -9 twice mid-load with InfluxDB up, then restart: every published frame exactly once', async () => {
    const name = 'rel-kill-up';
    const walDir = join(dir.path, 'wal-kill-up');
    const file = flowFile(name, `walDir: "${walDir}", flushIntervalMs: 200`);
    let child = start(file);
    await started(child);
    const load = publishSteadily(publisher, `rel/${name}`, { prefix: 'ku', ratePerSecond: 100, count: 1_000 });
    for (const at of [250, 600]) {
      await waitFor(`${at} frames published`, () => load.published() >= at, 30_000, 10);
      child.process.kill('SIGKILL');
      await child.exited;
      child = start(file);
      await started(child);
    }
    const published = await load.done;
    await expectExactlyOnce(name.replaceAll('-', '_'), 'ku', published);
    child.process.kill('SIGTERM');
    expect(await exitWithin(child, 15_000)).toBe(0);
  });

  it('kill -9 with InfluxDB down, then restart with it up: what was acknowledged comes from the log, the rest is redelivered', async () => {
    const name = 'rel-kill-down';
    const walDir = join(dir.path, 'wal-kill-down');
    const file = flowFile(name, `walDir: "${walDir}"`);
    await influxd.process.stop();
    const child = start(file);
    await started(child);
    const load = publishSteadily(publisher, `rel/${name}`, { prefix: 'kd', ratePerSecond: 150, count: 600 });
    // Answered and logged while InfluxDB is down: acknowledged to the broker, durable only in the log.
    await waitFor('points in the log', () => logBytes(walDir) > 50_000, 30_000, 10);
    child.process.kill('SIGKILL');
    await child.exited;
    const published = await load.done;
    await influxd.process.start();
    const port = await freePort();
    const next = start(file, { EDGEKE_HTTP_HOST: '127.0.0.1', EDGEKE_HTTP_PORT: String(port) });
    await started(next);
    await waitFor('replay reported', () => next.output().includes('write-ahead log holds points of the previous run'), 10_000, 50);
    // The replay, as logged and as exported (edgeke_wal_replayed_records_total): the same count.
    const replayLine = next.output().split('\n').find((line) => line.includes('write-ahead log holds points of the previous run')) ?? '{}';
    const replayed = (JSON.parse(replayLine) as { points?: number }).points ?? 0;
    expect(replayed).toBeGreaterThan(0);
    const metricsText = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metricsText).toContain(`edgeke_wal_replayed_records_total{flow="${name}"} ${replayed}\n`);
    await expectExactlyOnce(name.replaceAll('-', '_'), 'kd', published);
    next.process.kill('SIGTERM');
    expect(await exitWithin(next, 15_000)).toBe(0);
  });

  it('SIGTERM with InfluxDB down and no walDir or spillDir set: exits 0, says the points are in the log, the next start writes them', async () => {
    const name = 'rel-term-down';
    const stateDir = join(dir.path, 'state-term-down');
    const file = flowFile(name, 'flushIntervalMs: 500');
    await influxd.process.stop();
    const child = start(file, { EDGEKE_STATE_DIR: stateDir });
    await started(child);
    const load = publishSteadily(publisher, `rel/${name}`, { prefix: 'td', ratePerSecond: 100, count: 300 });
    await waitFor('points in the log', () => logBytes(join(stateDir, 'wal', name)) > 30_000, 30_000, 10);
    child.process.kill('SIGTERM');
    const code = await exitWithin(child, 15_000);
    const published = await load.done;
    expect(code, child.output().slice(-2_000)).toBe(0);
    expect(child.output()).toContain('they are in the write-ahead log');
    expect(child.output()).not.toContain('were not acknowledged');
    await influxd.process.start();
    const next = start(file, { EDGEKE_STATE_DIR: stateDir });
    await started(next);
    await expectExactlyOnce(name.replaceAll('-', '_'), 'td', published);
    next.process.kill('SIGTERM');
    expect(await exitWithin(next, 15_000)).toBe(0);
  });

  it.skipIf(!MOUNT)('a full disk under the log: frames are held back unacknowledged, none is lost, and all are stored once there is room', async () => {
    const name = 'rel-disk-full';
    const walDir = join(dir.path, 'wal-disk-full');
    mkdirSync(walDir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=192k', 'tmpfs', walDir]);
    mounts.push(walDir);
    // The bound is far beyond the disk: the disk fills first.
    const file = flowFile(name, `walDir: "${walDir}", walMaxBytes: 1073741824, batchSize: 100`);
    await influxd.process.stop();
    const child = start(file);
    await started(child);
    const load = publishSteadily(publisher, `rel/${name}`, { prefix: 'df', ratePerSecond: 200, count: 900 });
    await waitFor('disk full reported', () => child.output().includes('write-ahead log: write failed'), 30_000, 20);
    const published = await load.done;
    expect(child.output()).toContain('ENOSPC');
    await influxd.process.start();
    await expectExactlyOnce(name.replaceAll('-', '_'), 'df', published);
    expect(child.output()).toContain('write-ahead log: writing again');
    child.process.kill('SIGTERM');
    expect(await exitWithin(child, 15_000)).toBe(0);
    console.info(`[reliability] P12 disk full (192 KiB): ${published} frames, all stored once after`);
  });

  it('a log folder that cannot be written: the flow does not start (non-zero exit, folder named), nothing is acknowledged; fixed, every frame is stored once', async () => {
    const name = 'rel-wal-unwritable';
    const blocker = join(dir.path, 'not-a-folder');
    writeFileSync(blocker, 'a file where the log folder should be');
    const goodFile = flowFile(name, `walDir: "${join(dir.path, 'wal-unwritable-fixed')}"`);
    // The flow's persistent session exists (the broker keeps its frames while it is away).
    const first = start(goodFile);
    await started(first);
    first.process.kill('SIGTERM');
    expect(await exitWithin(first, 15_000)).toBe(0);
    const badFile = join(dir.path, `${name}-bad.yaml`);
    writeFileSync(badFile, signalFlowYaml({ name, mqttUrl, topic: `rel/${name}`, influxUrl: influxd.url, database: name.replaceAll('-', '_'), influx: `walDir: "${join(blocker, 'wal')}"`, limits: LIMITS }));
    const load = publishSteadily(publisher, `rel/${name}`, { prefix: 'wu', ratePerSecond: 100, count: 200 });
    const bad = start(badFile);
    const code = await exitWithin(bad, 60_000);
    expect(code).not.toBe(0);
    expect(bad.output()).toContain(join(blocker, 'wal'));
    const published = await load.done;
    const good = start(goodFile);
    await started(good);
    await expectExactlyOnce(name.replaceAll('-', '_'), 'wu', published);
    good.process.kill('SIGTERM');
    expect(await exitWithin(good, 15_000)).toBe(0);
  });
});


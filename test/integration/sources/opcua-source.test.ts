import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import type { Subscription } from 'rxjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RawMessage } from '../../../src/core/frame.ts';
import type { VibrationRecording } from '../../../src/simulators/cwru-recordings.ts';
import { startOpcuaVibrationServer, VIBRATION_NODE_IDS, type OpcuaVibrationServer } from '../../../src/simulators/opcua-vibration-server.ts';
import { opcuaSource, type OpcuaSourceOptions } from '../../../src/sources/opcua-source.ts';
import type { SourceRejection, SourceStateChange } from '../../../src/sources/source-events.ts';

// One simulator server for the file (a node-opcua server takes seconds to start). Its recordings are ramps, so
// the samples of a window must be consecutive integers when blocks are joined without loss or reordering.
const logger = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'edgeke-opcua-'));
const ramp = (label: number, length: number): VibrationRecording => ({
  file: `ramp-${label}`,
  className: `class-${label}`,
  label,
  samples: Float32Array.from({ length }, (_, i) => i),
});
const recordings = [ramp(0, 1_000_000)];
let server: OpcuaVibrationServer;

beforeAll(async () => {
  server = await startOpcuaVibrationServer({ recordings, certificateStore: join(dir, 'server-pki'), users: [{ username: 'edgeke', password: 's3cret' }] });
});
afterAll(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

const subscriptions: Subscription[] = [];
afterEach(async () => {
  for (const subscription of subscriptions.splice(0)) subscription.unsubscribe();
  await sleep(100);
});

async function until(condition: () => boolean, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function start(options: Partial<OpcuaSourceOptions> & Pick<OpcuaSourceOptions, 'nodeIds' | 'window'>, endpoint = server.endpoint) {
  const messages: RawMessage[] = [];
  const states: SourceStateChange[] = [];
  const rejections: SourceRejection[] = [];
  const subscription = opcuaSource(
    { flow: 'vibration', endpoint, certificateStore: join(dir, 'client-pki'), sampleRateHz: 12_000, reconnectInitialDelayMs: 200, reconnectMaxDelayMs: 1_000, ...options },
    { logger, events: { onStateChange: (change) => states.push(change), onRejected: (rejection) => rejections.push(rejection) } },
  ).subscribe((message) => messages.push(message));
  subscriptions.push(subscription);
  return { messages, states, rejections, subscription };
}

const samplesOf = (message: RawMessage | undefined): number[] =>
  message?.payload.kind === 'samples' ? Array.from(message.payload.values) : [];

describe('opcuaSource against the node-opcua vibration simulator', () => {
  it('joins 1,200-sample blocks into contiguous 2,048-sample windows dated by their first sample', async () => {
    const run = start({ nodeIds: [VIBRATION_NODE_IDS.signal], window: { by: 'count', samples: 2048 }, samplingIntervalMs: 0 });
    await until(() => run.messages.length >= 12, 15_000, 'twelve windows');
    const windows = run.messages.slice(0, 12);
    for (const window of windows) {
      const values = samplesOf(window);
      expect(values).toHaveLength(2048);
      expect(values.every((value, i) => i === 0 || value === (values[i - 1] ?? Number.NaN) + 1)).toBe(true);
      expect(window.origin).toBe(VIBRATION_NODE_IDS.signal);
      expect(window.id).toBe(`${VIBRATION_NODE_IDS.signal}@${Math.round(window.captureTs ?? 0)}`);
    }
    for (let i = 1; i < windows.length; i += 1) {
      expect(samplesOf(windows[i])[0]).toBe((samplesOf(windows[i - 1])[2047] ?? Number.NaN) + 1);
      // 2,048 samples at 12 kHz apart, from the simulator's block timestamps.
      expect((windows[i]?.captureTs ?? 0) - (windows[i - 1]?.captureTs ?? 0)).toBeCloseTo(2048 / 12, 0);
    }
    expect(run.states.map((change) => change.state)).toContain('connected');
  });

  it('never joins samples across blocks lost to a sampling interval as slow as the updates', async () => {
    // The server samples every 100 ms a variable it updates every 100 ms: some blocks are missed.
    const run = start({ nodeIds: [VIBRATION_NODE_IDS.signal], window: { by: 'count', samples: 2048 }, samplingIntervalMs: 100 });
    await until(() => run.messages.length >= 10, 15_000, 'ten windows');
    for (const window of run.messages) {
      const values = samplesOf(window);
      expect(values.every((value, i) => i === 0 || value === (values[i - 1] ?? Number.NaN) + 1)).toBe(true);
    }
  });

  it('gathers a slow scalar tag into windows by count and by time', async () => {
    const byCount = start({ nodeIds: [VIBRATION_NODE_IDS.rms], window: { by: 'count', samples: 5 } });
    const byTime = start({ nodeIds: [VIBRATION_NODE_IDS.rms], window: { by: 'time', ms: 500 } });
    await until(() => byCount.messages.length >= 2 && byTime.messages.length >= 2, 15_000, 'scalar windows');
    expect(samplesOf(byCount.messages[0])).toHaveLength(5);
    // One RMS value per 100 ms block: a 500 ms window holds about five.
    const timeWindow = samplesOf(byTime.messages[1]);
    expect(timeWindow.length).toBeGreaterThanOrEqual(3);
    expect(timeWindow.length).toBeLessThanOrEqual(6);
  });

  it('retries and reports a node id the server does not know, without stalling the others', async () => {
    const missing = 'ns=1;s=Bearing.DoesNotExist';
    const run = start({ nodeIds: [missing, VIBRATION_NODE_IDS.signal], window: { by: 'count', samples: 2048 }, nodeRetryMs: 200 });
    await until(() => run.rejections.filter((r) => r.reason === 'node-unavailable').length >= 3, 15_000, 'retries');
    await until(() => run.messages.length >= 1, 15_000, 'windows from the good node');
    expect(run.rejections.every((r) => r.origin === missing)).toBe(true);
  });

  it('exposes the class now playing, switching recordings every holdSamples', async () => {
    const cycling = await startOpcuaVibrationServer({
      recordings: [ramp(0, 50_000), ramp(1, 50_000)],
      holdSamples: 2_400, // two blocks (200 ms) per class
      certificateStore: join(dir, 'server-pki'),
    });
    try {
      const run = start({ nodeIds: [VIBRATION_NODE_IDS.trueLabel], window: { by: 'count', samples: 1 } }, cycling.endpoint);
      await until(() => new Set(run.messages.map((message) => samplesOf(message)[0])).size === 2 && run.messages.length >= 4, 15_000, 'class switches');
      const labels = run.messages.map((message) => samplesOf(message)[0]);
      for (let i = 1; i < labels.length; i += 1) expect(labels[i]).not.toBe(labels[i - 1]);
      expect([0, 1]).toContain(cycling.currentClass().label);
      expect(cycling.currentClass().className).toBe(`class-${cycling.currentClass().label}`);
    } finally {
      await cycling.stop();
    }
  });

  it('resumes after the server restarts on the same endpoint', async () => {
    const second = await startOpcuaVibrationServer({ recordings, certificateStore: join(dir, 'server-pki') });
    const port = Number(new URL(second.endpoint.replace('opc.tcp', 'http')).port);
    const run = start({ nodeIds: [VIBRATION_NODE_IDS.signal], window: { by: 'count', samples: 2048 } }, second.endpoint);
    await until(() => run.messages.length >= 2, 15_000, 'windows before restart');
    await second.stop();
    await until(() => run.states.some((change) => change.state === 'reconnecting'), 15_000, 'connection loss');
    const before = run.messages.length;
    const third = await startOpcuaVibrationServer({ recordings, port, certificateStore: join(dir, 'server-pki') });
    try {
      await until(() => run.messages.length >= before + 2, 30_000, 'windows after restart');
      expect(run.states.at(-1)?.state).toBe('connected');
      expect(samplesOf(run.messages.at(-1))).toHaveLength(2048);
    } finally {
      run.subscription.unsubscribe();
      await third.stop();
    }
  });

  it('authenticates with user name and password, and ends with EDGEKE_SOURCE_REFUSED on a wrong password', async () => {
    const good = start({ nodeIds: [VIBRATION_NODE_IDS.rms], window: { by: 'count', samples: 2 }, username: 'edgeke', password: 's3cret' });
    const errors: unknown[] = [];
    const bad = opcuaSource(
      { flow: 'vibration', endpoint: server.endpoint, certificateStore: join(dir, 'client-pki'), nodeIds: [VIBRATION_NODE_IDS.rms], window: { by: 'count', samples: 2 }, username: 'edgeke', password: 'wrong' },
      { logger },
    ).subscribe({ error: (error: unknown) => errors.push(error) });
    subscriptions.push(bad);
    await until(() => good.messages.length >= 1 && errors.length === 1, 15_000, 'good windows and a refusal');
    expect(errors[0]).toMatchObject({ code: 'EDGEKE_SOURCE_REFUSED', retryable: false });
    expect(String((errors[0] as Error).message)).not.toContain('wrong');
  });

  it('does not trust an unknown server certificate with security on, until it is moved to trusted', async () => {
    const pki = join(dir, 'strict-client-pki');
    const secure: Partial<OpcuaSourceOptions> & Pick<OpcuaSourceOptions, 'nodeIds' | 'window'> = {
      nodeIds: [VIBRATION_NODE_IDS.signal],
      window: { by: 'count', samples: 2048 },
      securityMode: 'SignAndEncrypt',
      securityPolicy: 'Basic256Sha256',
      certificateStore: pki,
    };
    const run = start(secure);
    await until(() => existsSync(join(pki, 'rejected')) && readdirSync(join(pki, 'rejected')).length > 0, 15_000, 'rejected cert');
    expect(run.messages).toEqual([]);
    expect(run.states.map((change) => change.state)).not.toContain('connected');

    // What an operator does: move the server's certificate from rejected/ to trusted/certs/, then restart the flow
    // (node-opcua's folder watcher may notice the move by itself, but not reliably everywhere).
    run.subscription.unsubscribe();
    for (const file of readdirSync(join(pki, 'rejected'))) renameSync(join(pki, 'rejected', file), join(pki, 'trusted', 'certs', file));
    const trusted = start(secure);
    await until(() => trusted.messages.length >= 1, 30_000, 'windows over a secure channel');
    expect(trusted.states.at(-1)?.state).toBe('connected');
  });
});

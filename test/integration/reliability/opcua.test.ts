import { existsSync, readdirSync, renameSync } from 'node:fs';
import { createServer, connect as connectTcp, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VibrationRecording } from '../../../src/simulators/cwru-recordings.ts';
import { startOpcuaVibrationServer, VIBRATION_NODE_IDS, type OpcuaVibrationServer } from '../../../src/simulators/opcua-vibration-server.ts';
import { loadFlow, startTestService, tempDir, waitFor, type TestService } from './harness.ts';

// Promise 5 (OPC UA server restart, a connection cut shorter than the subscription lifetime, a node id that is not
// there) and the OPC UA half of promise 12 (Sign / SignAndEncrypt with a store that does not trust unknown servers),
// through the service, against the node-opcua vibration simulator.

const ramp: VibrationRecording = { file: 'ramp', className: 'ramp', label: 0, samples: Float32Array.from({ length: 1_000_000 }, (_, i) => Math.sin(i / 9) + (i % 17) / 20) };
const MISSING = 'ns=1;s=Bearing.DoesNotExist';

/** A TCP relay whose live connections can be cut while it keeps listening (a network blip). */
async function startRelay(targetPort: number): Promise<{ port: number; cut: () => number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    const outbound = connectTcp({ host: '127.0.0.1', port: targetPort });
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => socket.destroy());
    }
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    cut: () => {
      const count = sockets.size;
      for (const socket of sockets) socket.destroy();
      return count;
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const flowYaml = (name: string, endpoint: string, pki: string, extra = ''): string => `
name: ${name}
source:
  kind: opcua
  endpoint: "${endpoint}"
  nodeIds: ["${VIBRATION_NODE_IDS.signal}"${extra.includes('MISSING') ? `, "${MISSING}"` : ''}]
  samplingIntervalMs: 0
  certificateStore: "${pki}"
  window: { by: count, samples: 256 }
${extra.replace('MISSING', '').trim() === '' ? '' : `  ${extra.replace('MISSING', '').trim()}`}
decode: opcua-samples
model: { path: test/fixtures/tiny-model/signal }
policy: { mode: deadline, deadlineMs: 60000, latePolicy: answer-late }
`;

describe('OPC UA faults and security, through the service', () => {
  const dir = tempDir('opcua');
  const profileCacheDir = join(dir.path, 'profiles');
  let server: OpcuaVibrationServer;
  const services: TestService[] = [];

  beforeAll(async () => {
    server = await startOpcuaVibrationServer({ recordings: [ramp], certificateStore: join(dir.path, 'server-pki') });
  });
  afterAll(async () => {
    await Promise.all(services.map((running) => running.stop(2_000)));
    await server?.stop();
    dir.remove();
  });

  const sourceOk = async (running: TestService, flow: string): Promise<boolean> =>
    (await running.readiness.evaluate()).checks.find((check) => check.name === `${flow}:source`)?.ok === true;

  it('promise 5: resumes by itself after a server restart and after a connection cut, and retries and reports a missing node without stalling', async () => {
    const first = await startOpcuaVibrationServer({ recordings: [ramp], certificateStore: join(dir.path, 'server-pki') });
    const port = Number(new URL(first.endpoint.replace('opc.tcp', 'http')).port);
    const relay = await startRelay(port);
    const endpoint = first.endpoint.replace(`:${port}`, `:${relay.port}`);
    const flow = 'rel-opcua';
    let restarted: OpcuaVibrationServer | undefined;
    try {
      const running = await startTestService([loadFlow(flowYaml(flow, endpoint, join(dir.path, 'client-pki'), 'MISSING'))], { profileCacheDir });
      services.push(running);
      await waitFor('windows answered', () => running.results.length >= 5, 30_000);

      // A missing node: retried (every 5 s by default) and reported each time, while the good node keeps flowing.
      const missingReports = (): number => running.lines.filter((line) => line.includes('opcua node cannot be monitored') && line.includes(MISSING)).length;
      await waitFor('missing node retried', () => missingReports() >= 2, 20_000);
      expect(running.results.length).toBeGreaterThan(10);

      // A connection cut (much shorter than the subscription lifetime): the relay drops the TCP connection only.
      const beforeCut = running.results.length;
      const cut = relay.cut();
      const cutAt = Date.now();
      await waitFor('windows after the cut', () => running.results.length >= beforeCut + 5, 30_000);
      const cutResumeMs = Date.now() - cutAt;

      // A server restart on the same endpoint.
      await first.stop();
      const stoppedAt = Date.now();
      await waitFor('source not ready', async () => !(await sourceOk(running, flow)), 30_000);
      const detectMs = Date.now() - stoppedAt;
      const beforeRestart = running.results.length;
      restarted = await startOpcuaVibrationServer({ recordings: [ramp], port, certificateStore: join(dir.path, 'server-pki') });
      const restartedAt = Date.now();
      await waitFor('windows after the restart', () => running.results.length >= beforeRestart + 5, 60_000);
      const restartResumeMs = Date.now() - restartedAt;
      await waitFor('source ready again', () => sourceOk(running, flow), 10_000);
      await running.stop(5_000);

      expect(cut).toBeGreaterThan(0);
      expect(running.results.every((result) => result.outcome === 'ok')).toBe(true);
      console.info(
        `[reliability] P5 missing node reported ${missingReports()} times while ${running.results.length} windows flowed; connection cut: resumed in ${cutResumeMs} ms; server restart: not ready after ${detectMs} ms, resumed ${restartResumeMs} ms after the server was back`,
      );
    } finally {
      await relay.close();
      await restarted?.stop();
    }
  });

  it('promise 12 (OPC UA): Sign and SignAndEncrypt do not trust an unknown server until its certificate is moved to trusted', async () => {
    const pki = join(dir.path, 'strict-pki');
    const secure = (mode: 'Sign' | 'SignAndEncrypt'): string => flowYaml(`rel-opcua-${mode.toLowerCase()}`, server.endpoint, pki, `securityMode: ${mode}\n  securityPolicy: Basic256Sha256`);
    const untrusted = await startTestService([loadFlow(secure('SignAndEncrypt'))], { profileCacheDir });
    services.push(untrusted);
    await waitFor('server certificate rejected', () => existsSync(join(pki, 'rejected')) && readdirSync(join(pki, 'rejected')).length > 0, 30_000);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(untrusted.results).toEqual([]);
    expect(await sourceOk(untrusted, 'rel-opcua-signandencrypt')).toBe(false);
    await untrusted.stop(2_000);

    // The operator trusts it (moves it from rejected/ to trusted/certs/) and restarts: both modes now work.
    for (const file of readdirSync(join(pki, 'rejected'))) renameSync(join(pki, 'rejected', file), join(pki, 'trusted', 'certs', file));
    const trusted = await startTestService([loadFlow(secure('SignAndEncrypt')), loadFlow(secure('Sign'))], { profileCacheDir });
    services.push(trusted);
    await waitFor('windows over both secure channels', () => new Set(trusted.results.map((result) => result.flow)).size === 2, 60_000);
    await trusted.stop(5_000);
    console.info('[reliability] P12 OPC UA: unknown server rejected (0 frames) until trusted; then Sign and SignAndEncrypt both delivered');
  });
});

import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RawMessage } from '../../../src/core/frame.ts';
import { mqttSource, type MqttSourceOptions } from '../../../src/sources/mqtt-source.ts';
import type { SourceStateChange } from '../../../src/sources/source-events.ts';
import { findBinary } from '../../helpers/find-binary.ts';
import { freePort } from '../../helpers/free-port.ts';
import { startMosquitto, type RunningMosquitto } from '../../helpers/mosquitto.ts';

// A Mosquitto of its own with a password file and a TLS listener whose certificate a throwaway CA signed.
const logger = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'edgeke-mqtt-security-'));
let broker: RunningMosquitto;
let tlsUrl: string;

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

beforeAll(async () => {
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=edgeke-test-ca');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext');
  writeFileSync(join(dir, 'passwd'), '');
  execFileSync(findBinary('mosquitto_passwd', 'mosquitto'), ['-b', join(dir, 'passwd'), 'edgeke', 's3cret'], { stdio: 'ignore' });
  // Mosquitto started as root drops to the `mosquitto` user before reading these files.
  chmodSync(dir, 0o755);
  for (const file of ['passwd', 'ca.pem', 'server.pem', 'server.key']) chmodSync(join(dir, file), 0o644);
  const tlsPort = await freePort();
  broker = await startMosquitto({
    dir: join(dir, 'mosquitto'),
    extraConfig: [
      `password_file ${join(dir, 'passwd')}`,
      `listener ${tlsPort} 127.0.0.1`,
      `cafile ${join(dir, 'ca.pem')}`,
      `certfile ${join(dir, 'server.pem')}`,
      `keyfile ${join(dir, 'server.key')}`,
    ],
  });
  tlsUrl = `mqtts://127.0.0.1:${tlsPort}`;
});
afterAll(async () => {
  await broker?.process.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(20);
  }
}

function run(options: Partial<MqttSourceOptions> & { url: string }) {
  const messages: RawMessage[] = [];
  const states: SourceStateChange[] = [];
  const errors: unknown[] = [];
  const subscription = mqttSource(
    { flow: 'secure', topic: 'secure/in', qos: 1, clientId: `secure-${Math.random().toString(16).slice(2)}`, cleanSession: true, reconnectPeriodMs: 200, ...options },
    { logger, events: { onStateChange: (change) => states.push(change) } },
  ).subscribe({ next: (message) => messages.push(message), error: (error: unknown) => errors.push(error) });
  return { messages, states, errors, subscription };
}

describe('mqttSource credentials and TLS', () => {
  it('connects with the right password and ends with EDGEKE_SOURCE_REFUSED on a wrong one', async () => {
    const good = run({ url: broker.url, username: 'edgeke', password: 's3cret' });
    const bad = run({ url: broker.url, username: 'edgeke', password: 'wrong' });
    try {
      await until(() => good.states.some((change) => change.state === 'connected') && bad.errors.length === 1);
      expect(bad.errors[0]).toMatchObject({ code: 'EDGEKE_SOURCE_REFUSED', retryable: false });
      expect(String((bad.errors[0] as Error).message)).not.toContain('wrong');
    } finally {
      good.subscription.unsubscribe();
      bad.subscription.unsubscribe();
    }
  });

  it('connects over TLS trusting the given CA, and not without it', async () => {
    const trusted = run({ url: tlsUrl, tls: { ca: join(dir, 'ca.pem') } });
    const untrusted = run({ url: tlsUrl });
    try {
      await until(() => trusted.states.some((change) => change.state === 'connected'));
      await sleep(300);
      const publisher = await mqtt.connectAsync(tlsUrl, { protocolVersion: 5, ca: readFileSync(join(dir, 'ca.pem')) });
      await publisher.publishAsync('secure/in', 'over-tls', { qos: 1 });
      await publisher.endAsync();
      await until(() => trusted.messages.length === 1);
      trusted.messages[0]?.ack();
      await sleep(1_000);
      expect(untrusted.states.map((change) => change.state)).not.toContain('connected');
      expect(untrusted.messages).toEqual([]);
    } finally {
      trusted.subscription.unsubscribe();
      untrusted.subscription.unsubscribe();
    }
  });
});

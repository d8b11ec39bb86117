import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findBinary } from '../../helpers/find-binary.ts';
import { freePort } from '../../helpers/free-port.ts';
import { startInfluxd, type RunningInfluxd } from '../../helpers/influxd.ts';
import { startMosquitto, type RunningMosquitto } from '../../helpers/mosquitto.ts';
import { influxFor, signalPayload, storedIds, tempDir, waitFor } from './harness.ts';

// Promise 12, end to end through a real `edgeke run` child (its real logger and metrics endpoint): MQTT over TLS with
// a password against a Mosquitto whose certificate a throwaway CA signed, InfluxDB with authentication on, a flow that
// trusts the wrong CA (no insecure fallback) and one with a wrong password; then every byte the process wrote, its
// /metrics and its /readyz are searched for the credentials. (Each piece is tested alone in test/integration/sources
// and test/integration/sinks; OPC UA security is in opcua.test.ts of this suite.)

const MQTT_PASSWORD = 'mqtt-Pa55-7e1f';
const WRONG_PASSWORD = 'wrong-Pa55-0c2d';
const INFLUX_PASSWORD = 'influx-Pa55-9b3a';

describe('credentials and TLS end to end', () => {
  const dir = tempDir('security');
  let broker: RunningMosquitto;
  let influxd: RunningInfluxd;
  let tlsUrl: string;
  let child: ChildProcess | undefined;

  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir.path, stdio: 'ignore' });
  };

  beforeAll(async () => {
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=edgeke-rel-ca');
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'other-ca.key', '-out', 'other-ca.pem', '-days', '2', '-subj', '/CN=edgeke-rel-other-ca');
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
    writeFileSync(join(dir.path, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
    openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext');
    writeFileSync(join(dir.path, 'passwd'), '');
    execFileSync(findBinary('mosquitto_passwd', 'mosquitto'), ['-b', join(dir.path, 'passwd'), 'edgeke', MQTT_PASSWORD], { stdio: 'ignore' });
    chmodSync(dir.path, 0o755);
    for (const file of ['passwd', 'ca.pem', 'server.pem', 'server.key']) chmodSync(join(dir.path, file), 0o644);
    const tlsPort = await freePort();
    broker = await startMosquitto({
      dir: join(dir.path, 'mosquitto'),
      extraConfig: [`password_file ${join(dir.path, 'passwd')}`, `listener ${tlsPort} 127.0.0.1`, `cafile ${join(dir.path, 'ca.pem')}`, `certfile ${join(dir.path, 'server.pem')}`, `keyfile ${join(dir.path, 'server.key')}`],
    });
    tlsUrl = `mqtts://127.0.0.1:${tlsPort}`;
    influxd = await startInfluxd({ dir: join(dir.path, 'influxd'), authEnabled: true });
    const created = await fetch(`${influxd.url}/query`, { method: 'POST', body: new URLSearchParams({ q: `CREATE USER edgeke WITH PASSWORD '${INFLUX_PASSWORD}' WITH ALL PRIVILEGES` }) });
    expect(created.status).toBe(200);
  });
  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) child.kill('SIGKILL');
    await broker?.process.stop();
    await influxd?.process.stop();
    dir.remove();
  });

  it('promise 12: TLS + password to MQTT and auth to InfluxDB work; an untrusted broker certificate never connects; no credential in logs, metrics or readiness', async () => {
    const flows = join(dir.path, 'flows');
    mkdirSync(flows);
    const flow = (name: string, source: string, sinks: string): string => `
name: ${name}
source: ${source}
decode: json-values
model: { path: test/fixtures/tiny-model/signal }
policy: { mode: deadline, deadlineMs: 60000, latePolicy: answer-late }
sinks: ${sinks}
`;
    const influx = (database: string): string =>
      `{ influx: { url: "${influxd.url}", database: ${database}, username: edgeke, password: "\${INFLUX_PASSWORD}", flushIntervalMs: 200 } }`;
    writeFileSync(
      join(flows, 'good.yaml'),
      flow('sec-good', `{ kind: mqtt, url: "${tlsUrl}", topic: sec/good, username: edgeke, password: "\${MQTT_PASSWORD}", tls: { ca: "${join(dir.path, 'ca.pem')}" } }`, influx('sec_good')),
    );
    writeFileSync(
      join(flows, 'untrusted.yaml'),
      flow('sec-untrusted', `{ kind: mqtt, url: "${tlsUrl}", topic: sec/untrusted, username: edgeke, password: "\${MQTT_PASSWORD}", tls: { ca: "${join(dir.path, 'other-ca.pem')}" } }`, influx('sec_untrusted')),
    );
    writeFileSync(join(flows, 'wrong.yaml'), flow('sec-wrong', `{ kind: mqtt, url: "${broker.url}", topic: sec/wrong, username: edgeke, password: "\${MQTT_WRONG_PASSWORD}" }`, influx('sec_wrong')));
    const httpPort = await freePort();
    child = spawn(process.execPath, ['bin/edgeke.js', 'run', flows, '--no-watch'], {
      env: { ...process.env, LOG_LEVEL: 'debug', EDGEKE_HTTP_PORT: String(httpPort), MQTT_PASSWORD, MQTT_WRONG_PASSWORD: WRONG_PASSWORD, INFLUX_PASSWORD },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));

    const readyz = async (): Promise<{ status: number; body: string } | undefined> => {
      const response = await fetch(`http://127.0.0.1:${httpPort}/readyz`).catch(() => undefined);
      return response === undefined ? undefined : { status: response.status, body: await response.text() };
    };
    await waitFor('good flow connected', async () => /"sec-good:source"[^}]*"ok":true/.test((await readyz())?.body ?? ''), 60_000, 200);

    const device = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'sec-device', username: 'edgeke', password: MQTT_PASSWORD });
    const ts = Date.now();
    for (let index = 0; index < 20; index += 1) {
      await device.publishAsync('sec/good', signalPayload(`g-${index}`, ts + index), { qos: 1 });
      await device.publishAsync('sec/untrusted', signalPayload(`u-${index}`, ts + index), { qos: 1 });
    }
    await device.endAsync();
    const good = influxFor(influxd.url, 'sec_good', { username: 'edgeke', password: INFLUX_PASSWORD });
    await waitFor('frames stored with auth', async () => (await storedIds(good)).length >= 20, 30_000, 200);
    // The untrusted flow keeps refusing the certificate (no insecure fallback): give it a few reconnect periods.
    await waitFor('untrusted flow tried and failed', () => /certificate|self.signed|unable to verify/i.test(output), 15_000, 200);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const ready = await readyz();
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    const untrustedStored = await storedIds(influxFor(influxd.url, 'sec_untrusted', { username: 'edgeke', password: INFLUX_PASSWORD }));
    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), 20_000))]);

    expect(ready?.status).toBe(503);
    expect(ready?.body).toMatch(/"sec-untrusted:source"[^}]*"ok":false/);
    expect(ready?.body).toMatch(/"sec-wrong:source"[^}]*"ok":false/);
    expect(untrustedStored).toEqual([]);
    expect(output).toMatch(/sec-wrong[\s\S]*refused|refused[\s\S]*sec-wrong/);
    expect(code).not.toBeNull();
    for (const secret of [MQTT_PASSWORD, WRONG_PASSWORD, INFLUX_PASSWORD]) {
      expect(output.includes(secret), `log output holds ${secret}`).toBe(false);
      expect(metrics.includes(secret), `metrics hold ${secret}`).toBe(false);
      expect(ready?.body.includes(secret), `readiness holds ${secret}`).toBe(false);
    }
    console.info(`[reliability] P12 TLS+password MQTT and InfluxDB auth: 20/20 stored; untrusted CA: never ready, 0 stored; wrong password refused; ${output.split('\n').length} log lines, /metrics (${metrics.length} B) and /readyz searched: 0 credentials`);
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.ts';
import { startTelemetryServer, telemetryHttpAddressFromEnv, type TelemetryServer } from '../../src/telemetry/http-server.ts';
import { EdgekeMetrics } from '../../src/telemetry/metrics.ts';
import { StatusBoard, type StatusSnapshot } from '../../src/telemetry/status-board.ts';
import { belowHighWaterCheck, connectedCheck, Readiness } from '../../src/telemetry/readiness.ts';

interface ReadyBody {
  status: string;
  failing: { name: string; ok: boolean; detail?: string }[];
  checks: { name: string; ok: boolean; detail?: string }[];
  notices: { name: string; detail: string }[];
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve(readiness = new Readiness(200)): Promise<{ server: TelemetryServer; metrics: EdgekeMetrics; readiness: Readiness }> {
  const metrics = new EdgekeMetrics({ defaultMetrics: false });
  cleanups.push(() => metrics.close());
  const server = await startTelemetryServer({ port: 0, metrics, readiness });
  cleanups.push(() => server.close());
  return { server, metrics, readiness };
}

describe('telemetry HTTP server', () => {
  it('binds 127.0.0.1 on a free port by default and serves Prometheus text on /metrics', async () => {
    const { server, metrics } = await serve();
    expect(server.host).toBe('127.0.0.1');
    expect(server.port).toBeGreaterThan(0);
    metrics.setQueueDepth('camera-neu', 4);
    const response = await fetch(`${server.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    expect(await response.text()).toContain('edgeke_queue_depth{flow="camera-neu"} 4');
  });

  it('answers /healthz with 200 while alive', async () => {
    const { server } = await serve();
    const response = await fetch(`${server.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('ok\n');
    expect((await fetch(`${server.url}/healthz`, { method: 'HEAD' })).status).toBe(200);
  });

  it('answers /readyz with 200 only when every check passes, listing failing checks otherwise', async () => {
    const { server, readiness } = await serve();
    let connected = false;
    let buffered = 9_000;
    let modelLoaded = false;
    readiness.register('flow:camera-neu:source', connectedCheck(() => connected));
    readiness.register('sink:influxdb', belowHighWaterCheck(() => buffered, 8_000));
    readiness.register('model:neu-multiexit', async () => modelLoaded);

    let response = await fetch(`${server.url}/readyz`);
    expect(response.status).toBe(503);
    let body = (await response.json()) as ReadyBody;
    expect(body.status).toBe('not ready');
    expect(body.failing.map((check) => check.name).sort()).toEqual(['flow:camera-neu:source', 'model:neu-multiexit', 'sink:influxdb']);
    expect(body.failing.find((check) => check.name === 'sink:influxdb')?.detail).toBe('buffer 9000 >= high-water 8000');

    connected = true;
    modelLoaded = true;
    response = await fetch(`${server.url}/readyz`);
    expect(response.status).toBe(503);
    body = (await response.json()) as ReadyBody;
    expect(body.failing.map((check) => check.name)).toEqual(['sink:influxdb']);

    buffered = 10;
    response = await fetch(`${server.url}/readyz`);
    expect(response.status).toBe(200);
    body = (await response.json()) as ReadyBody;
    expect(body).toMatchObject({ status: 'ready', failing: [] });
    expect(body.checks).toHaveLength(3);
  });

  it('fails a check that throws or hangs, without leaking credentials, and forgets unregistered checks', async () => {
    const { server, readiness } = await serve();
    readiness.register('flow:a:source', () => {
      throw new Error('cannot reach mqtt://edge:hunter2@broker:1883');
    });
    const unregister = readiness.register('flow:b:source', () => new Promise<boolean>(() => {}));
    const response = await fetch(`${server.url}/readyz`);
    expect(response.status).toBe(503);
    const text = await response.text();
    expect(text).not.toContain('hunter2');
    const body = JSON.parse(text) as ReadyBody;
    expect(body.failing).toEqual([
      { name: 'flow:a:source', ok: false, detail: 'cannot reach mqtt://broker:1883' },
      { name: 'flow:b:source', ok: false, detail: 'no answer within 200 ms' },
    ]);

    unregister();
    readiness.register('flow:a:source', () => true); // a reloaded flow replaces its check
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  });

  it('lists notices in the /readyz body without blocking readiness, redacted, until their source drops them', async () => {
    const { server, readiness } = await serve();
    readiness.register('camera:model', () => ({ ok: true, detail: 'serving' }));
    let rejected = [{ name: 'file:flows/broken.yaml', detail: 'rejected: source.url mqtt://edge:hunter2@broker:1883 is not allowed' }];
    const unregister = readiness.registerNotices(() => rejected);
    readiness.registerNotices(() => {
      throw new Error('state gone');
    });

    let response = await fetch(`${server.url}/readyz`);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).not.toContain('hunter2');
    expect((JSON.parse(text) as ReadyBody).notices).toEqual([
      { name: 'file:flows/broken.yaml', detail: 'rejected: source.url mqtt://broker:1883 is not allowed' },
      { name: 'readiness', detail: 'a notice source failed: state gone' },
    ]);

    rejected = [];
    response = await fetch(`${server.url}/readyz`);
    expect(((await response.json()) as ReadyBody).notices.map((notice) => notice.name)).toEqual(['readiness']);
    unregister();
  });

  it('answers 404 for unknown paths and 405 for other methods', async () => {
    const { server } = await serve();
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    const post = await fetch(`${server.url}/metrics`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('refuses to start on a port in use, and frees its port on close', async () => {
    const { server } = await serve();
    const metrics = new EdgekeMetrics({ defaultMetrics: false });
    cleanups.push(() => metrics.close());
    await expect(startTelemetryServer({ port: server.port, metrics, readiness: new Readiness() })).rejects.toThrow(/EADDRINUSE/);
    const port = server.port;
    // keep-alive connection open while closing must not hang the close
    await fetch(`${server.url}/healthz`, { keepalive: true });
    await server.close();
    const again = await startTelemetryServer({ port, metrics, readiness: new Readiness() });
    cleanups.push(() => again.close());
    expect(again.port).toBe(port);
  });

  it('reads its address from EDGEKE_HTTP_PORT and EDGEKE_HTTP_HOST', () => {
    expect(telemetryHttpAddressFromEnv({})).toEqual({ port: 9464, host: '127.0.0.1' });
    expect(telemetryHttpAddressFromEnv({ EDGEKE_HTTP_PORT: '0', EDGEKE_HTTP_HOST: '0.0.0.0' })).toEqual({ port: 0, host: '0.0.0.0' });
    expect(() => telemetryHttpAddressFromEnv({ EDGEKE_HTTP_PORT: 'http' })).toThrow(ConfigError);
    expect(() => telemetryHttpAddressFromEnv({ EDGEKE_HTTP_PORT: '70000' })).toThrow(/EDGEKE_HTTP_PORT/);
  });

  it('serves the status page at / and its data at /status.json, read-only and self-contained', async () => {
    const metrics = new EdgekeMetrics({ defaultMetrics: false });
    cleanups.push(() => metrics.close());
    const status = new StatusBoard({ now: () => 5_000 });
    status.record({
      flow: 'cam', id: '1', captureTs: 4_990, captureTsSource: 'device', model: 'neu', engine: 'onnx', outcome: 'ok', exit: 2,
      queueMs: 1, inferMs: 2, e2eMs: 10, deadlineMs: 50, deadlineMet: true, configVersion: 3,
    });
    const server = await startTelemetryServer({ port: 0, metrics, readiness: new Readiness(), status });
    cleanups.push(() => server.close());
    const page = await fetch(`${server.url}/`);
    expect(page.headers.get('content-type')).toContain('text/html');
    const html = await page.text();
    expect(html).toContain('status.json');
    expect(html).not.toMatch(/https?:\/\//);
    const data = (await (await fetch(`${server.url}/status.json?seconds=60`)).json()) as StatusSnapshot;
    expect(data.flows.map((flow) => [flow.name, flow.configVersion, flow.seconds[0]?.exits])).toEqual([['cam', 3, { 2: 1 }]]);
    expect((await fetch(`${server.url}/status.json`, { method: 'POST' })).status).toBe(405);
  });

  it('answers / with 404 when it has no status source', async () => {
    const { server } = await serve();
    expect((await fetch(`${server.url}/`)).status).toBe(404);
  });
});

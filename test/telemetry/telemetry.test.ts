import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/telemetry/logger.ts';
import { startTelemetry } from '../../src/telemetry/telemetry.ts';

describe('startTelemetry', () => {
  it('wires logger, metrics, readiness and the HTTP server from the environment', async () => {
    const lines: string[] = [];
    const logger = createLogger({ destination: { write: (line: string) => void lines.push(line) } });
    const telemetry = await startTelemetry({ env: { EDGEKE_HTTP_PORT: '0' }, logger, metrics: { defaultMetrics: false } });
    try {
      expect(telemetry.server?.host).toBe('127.0.0.1');
      telemetry.metrics.setSourceConnected('camera-neu', 'mqtt', false);
      telemetry.readiness.register('flow:camera-neu:source', () => ({ ok: false, detail: 'not connected' }));
      const url = telemetry.server?.url ?? '';
      expect(await (await fetch(`${url}/metrics`)).text()).toContain('edgeke_source_connected{flow="camera-neu",source="mqtt"} 0');
      expect((await fetch(`${url}/readyz`)).status).toBe(503);
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      expect(lines.some((line) => line.includes('"component":"telemetry-http"') && line.includes('listening'))).toBe(true);
    } finally {
      await telemetry.close();
      await telemetry.close();
    }
  });

  it('serves nothing with http: false', async () => {
    const telemetry = await startTelemetry({ http: false, logger: createLogger({ level: 'silent' }), metrics: { defaultMetrics: false } });
    expect(telemetry.server).toBeUndefined();
    await telemetry.close();
  });
});

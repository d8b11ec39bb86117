import { afterAll, describe, expect, it } from 'vitest';
import type { FrameResult } from '../../src/core/frame.ts';
import { startTelemetryServer, type TelemetryServer } from '../../src/telemetry/http-server.ts';
import { EdgekeMetrics } from '../../src/telemetry/metrics.ts';
import { Readiness } from '../../src/telemetry/readiness.ts';
import { StatusBoard } from '../../src/telemetry/status-board.ts';
import { HeadlessChromium } from '../helpers/headless-chromium.ts';
import { waitFor } from '../helpers/wait-for.ts';

const result: FrameResult = {
  flow: 'cam', id: '1', captureTs: 0, captureTsSource: 'device', model: 'neu', engine: 'onnx', outcome: 'ok', exit: 1,
  queueMs: 1, inferMs: 1, e2eMs: 5, deadlineMs: 50, deadlineMet: true, configVersion: 1,
};

// The page on a plant network outlives restarts of the service: it says the service is unreachable, keeps trying,
// and draws again when the service is back on the same address.
describe('status page reconnects', () => {
  const metrics = new EdgekeMetrics({ defaultMetrics: false });
  const status = new StatusBoard();
  let server: TelemetryServer | undefined;
  let browser: HeadlessChromium | undefined;

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    metrics.close();
  });

  it('shows the outage and resumes when the service is back', async () => {
    status.record(result);
    server = await startTelemetryServer({ port: 0, metrics, readiness: new Readiness(), status });
    const port = server.port;
    browser = HeadlessChromium.launch();
    await browser.open(`${server.url}/`);
    const page = browser;
    const state = (): Promise<{ updates: number; down: boolean; text: string }> =>
      page.evaluate(`(() => {
        const el = document.getElementById('state');
        return { updates: Number(document.body?.dataset.updates || 0), down: !!el && el.className === 'down', text: el ? el.textContent : '' };
      })()`);
    await waitFor('the first update', async () => (await state()).updates >= 1, 20_000, 100);

    await server.close();
    await waitFor('the page to report the outage', async () => (await state()).down, 20_000, 100);
    const during = await state();
    expect(during.text).toMatch(/unreachable/);

    server = await startTelemetryServer({ port, metrics, readiness: new Readiness(), status });
    await waitFor('the page to draw again', async () => {
      const now = await state();
      return !now.down && now.updates > during.updates;
    }, 20_000, 100);
    const flows = await page.evaluate<string[]>(`[...document.querySelectorAll('section.flow')].map((el) => el.dataset.flow)`);
    expect(flows).toEqual(['cam']);
  }, 90_000);
});

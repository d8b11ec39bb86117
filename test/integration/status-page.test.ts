import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { HeadlessChromium } from '../helpers/headless-chromium.ts';
import { waitFor } from '../helpers/wait-for.ts';

interface ChartState {
  updates: number;
  flows: string[];
  canvases: number;
  points: number;
  last: number;
  image: string;
  headline: string;
}

/** What the page shows of the camera flow's throughput chart, read in the browser. */
const READ_STATE = `(() => {
  if (!document.body) return { updates: 0, flows: [], canvases: 0, points: 0, last: 0, image: '', headline: '' };
  const camera = document.querySelector('section[data-flow="neu-camera"]');
  const chart = camera && camera.querySelector('canvas[data-chart="throughput"]');
  return {
    updates: Number(document.body.dataset.updates || 0),
    flows: [...document.querySelectorAll('section.flow')].map((el) => el.dataset.flow).sort(),
    canvases: camera ? camera.querySelectorAll('canvas').length : 0,
    points: chart ? Number(chart.dataset.points || 0) : 0,
    last: chart ? Number(chart.dataset.last || 0) : 0,
    image: chart ? chart.toDataURL() : '',
    headline: camera ? camera.querySelector('.headline')?.textContent ?? '' : '',
  };
})()`;

// The live status page in a real browser: Debian's chromium, headless, loads it from a running demo and sees the
// charts move. Its screenshot (.edgeke/status-page.png) is the one in the README.
describe('status page', () => {
  const demo = spawn(process.execPath, ['bin/edgeke.js', 'demo', '--duration', '40'], {
    env: { ...process.env, INFLUX_URL: '', EDGEKE_HTTP_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => demo.once('exit', (code) => resolve(code)));
  let browser: HeadlessChromium | undefined;

  afterAll(async () => {
    await browser?.close();
    if (demo.exitCode === null) demo.kill('SIGTERM');
    await exited;
  });

  it('draws every flow and its charts move while the demo runs', async () => {
    const lines = createInterface({ input: demo.stdout });
    const statusPage = await new Promise<string>((resolve, reject) => {
      lines.on('line', (line) => {
        const event = JSON.parse(line) as { event: string; statusPage?: string };
        if (event.event === 'started' && event.statusPage !== undefined) resolve(event.statusPage);
      });
      void exited.then((code) => reject(new Error(`the demo exited (${code}) before serving the status page`)));
    });

    const html = await fetch(`${statusPage}/`);
    expect(html.headers.get('content-type')).toContain('text/html');
    // No CDN, no external script: the page works on an offline plant network.
    expect(await html.text()).not.toMatch(/<script[^>]+src=|<link[^>]+href=["']?https?:/);

    browser = HeadlessChromium.launch();
    await browser.open(`${statusPage}/`);
    const read = (): Promise<ChartState> => (browser as HeadlessChromium).evaluate<ChartState>(READ_STATE);
    let first: ChartState | undefined;
    await waitFor('the page to draw the camera flow', async () => {
      first = await read();
      return first.points >= 2 && first.flows.length === 3;
    }, 30_000, 250);
    const before = first as ChartState;
    expect(before.flows).toEqual(['cwru-mqtt-json', 'cwru-opcua', 'neu-camera']);
    expect(before.canvases).toBe(6);
    expect(before.headline).toMatch(/deadline 50 ms/);
    // The model version (content hash of its folder) in the headline, as in /status.json and the first chart mark.
    expect(before.headline).toMatch(/model \S+ [0-9a-f]{12} · config v1/);

    let after: ChartState | undefined;
    await waitFor('the charts to move', async () => {
      after = await read();
      return after.updates >= before.updates + 3 && after.last > before.last;
    }, 20_000, 250);
    const moved = after as ChartState;
    expect(moved.points).toBeGreaterThanOrEqual(before.points);
    expect(moved.image).not.toBe(before.image);

    // The screenshot after the first burst (5–7 s into the run), so it shows the exit mix moving.
    await waitFor('a dozen seconds of history', async () => (await read()).points >= 12, 30_000, 500);
    mkdirSync('.edgeke', { recursive: true });
    writeFileSync('.edgeke/status-page.png', await browser.screenshot());
  }, 120_000);
});

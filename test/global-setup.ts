import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startInfluxd } from './helpers/influxd.ts';
import { startMosquitto } from './helpers/mosquitto.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    mosquittoUrl: string;
    influxUrl: string;
  }
}

/**
 * Starts the real services the integration suites share — Mosquitto and InfluxDB on free loopback ports in a
 * temporary folder — and stops them after. Suites that restart or break a service start their own copy.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = mkdtempSync(join(tmpdir(), 'edgeke-services-'));
  const mosquitto = await startMosquitto({ dir: join(dir, 'mosquitto') });
  const influxd = await startInfluxd({ dir: join(dir, 'influxd') });
  project.provide('mosquittoUrl', mosquitto.url);
  project.provide('influxUrl', influxd.url);
  return async () => {
    await Promise.all([mosquitto.process.stop(), influxd.process.stop()]);
    rmSync(dir, { recursive: true, force: true });
  };
}

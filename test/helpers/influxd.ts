import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findBinary } from './find-binary.ts';
import { freePort } from './free-port.ts';
import { ManagedProcess } from './managed-process.ts';

export interface InfluxdOptions {
  /** Folder for meta, data, WAL, config and log; created if missing. */
  dir: string;
  /** Turns on HTTP authentication (the admin user must then be created through the API). */
  authEnabled?: boolean;
}

export interface RunningInfluxd {
  url: string;
  port: number;
  process: ManagedProcess;
}

/** Starts a real InfluxDB 1.x (`influxd` from Debian) on free loopback ports, storing into `dir`. */
export async function startInfluxd(options: InfluxdOptions): Promise<RunningInfluxd> {
  const binary = findBinary('influxd', 'influxdb');
  mkdirSync(options.dir, { recursive: true });
  const httpPort = await freePort();
  const rpcPort = await freePort();
  const configFile = join(options.dir, 'influxdb.conf');
  writeFileSync(
    configFile,
    [
      'reporting-disabled = true',
      `bind-address = "127.0.0.1:${rpcPort}"`,
      '[meta]',
      `  dir = "${options.dir}/meta"`,
      '[data]',
      `  dir = "${options.dir}/data"`,
      `  wal-dir = "${options.dir}/wal"`,
      '  query-log-enabled = false',
      '[monitor]',
      '  store-enabled = false',
      '[http]',
      `  bind-address = "127.0.0.1:${httpPort}"`,
      `  auth-enabled = ${options.authEnabled === true}`,
      '  log-enabled = false',
      '[continuous_queries]',
      '  enabled = false',
      '',
    ].join('\n'),
  );
  const url = `http://127.0.0.1:${httpPort}`;
  const process = new ManagedProcess({
    name: 'influxd',
    command: binary,
    args: ['-config', configFile],
    logFile: join(options.dir, 'influxd.log'),
    isReady: async () => (await fetch(`${url}/ping`)).status === 204,
  });
  await process.start();
  return { url, port: httpPort, process };
}

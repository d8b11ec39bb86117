import { mkdirSync, writeFileSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { findBinary } from './find-binary.ts';
import { freePort } from './free-port.ts';
import { ManagedProcess } from './managed-process.ts';

export interface MosquittoOptions {
  /** Folder for config, persistence and log; created if missing. */
  dir: string;
  /** Extra lines appended to mosquitto.conf (TLS listeners, password files, ...). */
  extraConfig?: string[];
}

export interface RunningMosquitto {
  url: string;
  port: number;
  process: ManagedProcess;
}

function tcpAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTcp({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

/** Starts a real Mosquitto 2 (MQTT 5) on a free loopback port, with persistence so restarts keep sessions. */
export async function startMosquitto(options: MosquittoOptions): Promise<RunningMosquitto> {
  const binary = findBinary('mosquitto', 'mosquitto');
  mkdirSync(options.dir, { recursive: true });
  const port = await freePort();
  const configFile = join(options.dir, 'mosquitto.conf');
  writeFileSync(
    configFile,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      // Started as root, Mosquitto drops to the `mosquitto` user, which cannot write into a private temp folder:
      // persistence then fails (sessions and queued messages are lost on restart). Stay the user that started it.
      `user ${userInfo().username}`,
      'persistence true',
      `persistence_location ${options.dir}/`,
      'autosave_interval 1',
      // As deploy/mosquitto/mosquitto.conf: no Nagle delay on frames to a subscriber that acknowledges late.
      'set_tcp_nodelay true',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      ...(options.extraConfig ?? []),
      '',
    ].join('\n'),
  );
  const process = new ManagedProcess({
    name: 'mosquitto',
    command: binary,
    args: ['-c', configFile],
    logFile: join(options.dir, 'mosquitto.log'),
    isReady: () => tcpAnswers(port),
  });
  await process.start();
  return { url: `mqtt://127.0.0.1:${port}`, port, process };
}

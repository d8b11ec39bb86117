import type { Logger } from 'pino';
import { readManifest } from '../model/manifest.ts';
import { startCameraSimulator } from '../simulators/camera-simulator.ts';
import { interleaveByClass, loadCwruTestSplit, type VibrationRecording } from '../simulators/cwru-recordings.ts';
import type { LoadProfile } from '../simulators/load-profile.ts';
import { startOpcuaVibrationServer, type OpcuaVibrationServer } from '../simulators/opcua-vibration-server.ts';
import { startVibrationMqttSimulator } from '../simulators/vibration-mqtt-simulator.ts';
import { BURST_SHAPE } from './camera-load.ts';

/** The topics the example flows in flows/ subscribe to. */
export const CAMERA_TOPIC = 'plant/line1/cam1/camera';
export const VIBRATION_TOPIC = 'plant/line1/bearing/vibration';

/** CWRU test recordings, alternating fault classes, each played for two seconds (every class shows up soon). */
export interface VibrationPlaylist {
  recordings: VibrationRecording[];
  holdSamples: number;
}

export async function loadVibrationPlaylist(): Promise<VibrationPlaylist> {
  const cwru = await loadCwruTestSplit('data/cwru-bearing/test');
  return { recordings: interleaveByClass(cwru.recordings), holdSamples: cwru.sampleRateHz * 2 };
}

/** The OPC UA vibration server of the demo and of the compose stack's simulators. */
export function startVibrationServer(
  playlist: VibrationPlaylist,
  options: { port?: number; host?: string; certificateStore?: string; logger: Logger },
): Promise<OpcuaVibrationServer> {
  return startOpcuaVibrationServer({
    ...playlist,
    logger: options.logger.child({ component: 'opcua-server' }),
    ...(options.port === undefined ? {} : { port: options.port }),
    ...(options.host === undefined ? {} : { host: options.host }),
    ...(options.certificateStore === undefined ? {} : { certificateStore: options.certificateStore }),
  });
}

export interface MqttDevicesOptions {
  mqttUrl: string;
  /** 4 for MQTT 3.1.1 brokers (the embedded one), 5 otherwise; payloads are JSON envelopes either way. */
  protocolVersion: 4 | 5;
  cameraRate: number;
  load: 'steady' | 'bursts';
  /** Replaces the default burst shape (the demo's `BURST_SHAPE`) when `load` is bursts. */
  bursts?: { factor: number; burstMs: number; everyMs: number; firstBurstAtMs?: number };
  /** Broker credentials (the compose stack's broker takes no anonymous writers). */
  username?: string;
  password?: string;
  /** Client ids are `<prefix>-camera` and `<prefix>-vibration`. */
  clientIdPrefix: string;
  logger: Logger;
}

/** The camera (NEU test images, steady or with 4x bursts) and the vibration sensor (CWRU windows), over MQTT. */
export interface RunningMqttDevices {
  /** The camera's base rate from now on (bursts multiply it). */
  setCameraRate: (ratePerSecond: number) => void;
  stop: () => Promise<void>;
}

export async function startMqttDevices(playlist: VibrationPlaylist, options: MqttDevicesOptions): Promise<RunningMqttDevices> {
  const profile: LoadProfile = 
    options.load === 'bursts' ? { kind: 'bursts', ...(options.bursts ?? BURST_SHAPE) } : { kind: 'steady' };
  const credentials = options.username === undefined ? {} : { username: options.username, ...(options.password === undefined ? {} : { password: options.password }) };
  const common = { url: options.mqttUrl, format: 'json' as const, protocolVersion: options.protocolVersion, ...credentials };
  const camera = await startCameraSimulator({
    ...common,
    topic: CAMERA_TOPIC,
    imagesFolder: 'data/neu-surface/test',
    classes: (await readManifest('models/neu-surface')).classes,
    ratePerSecond: options.cameraRate,
    profile,
    clientId: `${options.clientIdPrefix}-camera`,
    logger: options.logger.child({ component: 'camera-simulator' }),
  });
  const vibration = await startVibrationMqttSimulator({
    ...common,
    ...playlist,
    topic: VIBRATION_TOPIC,
    windowLength: 2048,
    clientId: `${options.clientIdPrefix}-vibration`,
    logger: options.logger.child({ component: 'vibration-simulator' }),
  });
  return {
    setCameraRate: (ratePerSecond) => camera.setRatePerSecond(ratePerSecond),
    stop: async () => {
      await Promise.all([camera.stop(), vibration.stop()]);
    },
  };
}

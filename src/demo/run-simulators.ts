import type { Logger } from 'pino';
import { readManifest } from '../model/manifest.ts';
import { startCameraSimulator } from '../simulators/camera-simulator.ts';
import { interleaveByClass, loadCwruTestSplit } from '../simulators/cwru-recordings.ts';
import { startOpcuaVibrationServer } from '../simulators/opcua-vibration-server.ts';
import { startVibrationMqttSimulator } from '../simulators/vibration-mqtt-simulator.ts';

export interface SimulatorsOptions {
  mqttUrl: string;
  opcuaPort: number;
  cameraRate: number;
  load: 'steady' | 'bursts';
  logger: Logger;
}

/**
 * Only the simulated devices (the compose stack's `simulators` service): the camera and vibration sensor publish
 * to an external broker as MQTT 5 (binary payloads, id and ts as user properties), the OPC UA server listens on
 * `opcuaPort` on all interfaces of its container. Runs until SIGTERM/SIGINT.
 */
export async function runSimulators(options: SimulatorsOptions): Promise<number> {
  const { logger } = options;
  const cwru = await loadCwruTestSplit('data/cwru-bearing/test');
  const recordings = interleaveByClass(cwru.recordings);
  const holdSamples = cwru.sampleRateHz * 2;
  const opcua = await startOpcuaVibrationServer({ recordings, holdSamples, port: options.opcuaPort, host: '0.0.0.0', logger: logger.child({ component: 'opcua-server' }) });
  const camera = await startCameraSimulator({
    url: options.mqttUrl,
    topic: 'plant/line1/cam1/camera',
    imagesFolder: 'data/neu-surface/test',
    classes: (await readManifest('models/neu-surface')).classes,
    ratePerSecond: options.cameraRate,
    profile: options.load === 'bursts' ? { kind: 'bursts', factor: 4, burstMs: 2_000, everyMs: 10_000 } : { kind: 'steady' },
    format: 'json',
    protocolVersion: 5,
    logger: logger.child({ component: 'camera-simulator' }),
  });
  const vibration = await startVibrationMqttSimulator({
    url: options.mqttUrl,
    topic: 'plant/line1/bearing/vibration',
    recordings,
    windowLength: 2048,
    holdSamples,
    format: 'json',
    protocolVersion: 5,
    logger: logger.child({ component: 'vibration-simulator' }),
  });
  logger.info({ mqtt: options.mqttUrl, opcua: opcua.endpoint }, 'simulators running');
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  await Promise.all([camera.stop(), vibration.stop()]);
  await opcua.stop();
  return 0;
}

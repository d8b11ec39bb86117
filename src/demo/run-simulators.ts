import type { Logger } from 'pino';
import { loadVibrationPlaylist, startMqttDevices, startVibrationServer } from './device-simulators.ts';

export interface SimulatorsOptions {
  mqttUrl: string;
  /** MQTT_USERNAME / MQTT_PASSWORD: the compose broker takes no anonymous writers. Never logged. */
  username?: string;
  password?: string;
  opcuaPort: number;
  cameraRate: number;
  load: 'steady' | 'bursts';
  logger: Logger;
}

/**
 * Only the simulated devices (the compose stack's `simulators` service): the camera and vibration sensor publish
 * JSON envelopes to an external MQTT 5 broker, the OPC UA server listens on `opcuaPort` on all interfaces of its
 * container. Runs until SIGTERM/SIGINT.
 */
export async function runSimulators(options: SimulatorsOptions): Promise<number> {
  const { logger } = options;
  const playlist = await loadVibrationPlaylist();
  const opcua = await startVibrationServer(playlist, { port: options.opcuaPort, host: '0.0.0.0', logger });
  const devices = await startMqttDevices(playlist, { ...options, protocolVersion: 5, clientIdPrefix: 'edgeke-simulators' });
  logger.info({ mqtt: options.mqttUrl, opcua: opcua.endpoint }, 'simulators running');
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  await devices.stop();
  await opcua.stop();
  return 0;
}

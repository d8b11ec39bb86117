import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { mqttClientLog } from '../core/mqtt-client-log.ts';
import { batchWritesThisTurn, sendPromptly } from '../core/write-batching.ts';

/** The MQTT client the results publisher needs; unit tests pass fakes. */
export interface ResultsMqttClient {
  /** Resolves once the broker has the message (PUBACK for QoS 1, written for QoS 0); rejects when it cannot. */
  publish(topic: string, payload: Buffer, qos: 0 | 1): Promise<void>;
  end(): Promise<void>;
}

export interface ResultsMqttOptions {
  url: string;
  clientId: string;
  protocolVersion: 4 | 5;
  keepaliveSeconds: number;
  username?: string;
  password?: string;
  /** File paths, as in the flow file. */
  tls?: { ca?: string; cert?: string; key?: string; rejectUnauthorized: boolean };
}

export type ResultsMqttClientFactory = (options: ResultsMqttOptions) => ResultsMqttClient;

/**
 * mqtt.js: connects in the background and reconnects by itself; QoS 1 publishes made while offline wait in its
 * outgoing store and go out on reconnect.
 */
export const createResultsMqttClient: ResultsMqttClientFactory = (options) => {
  const client = mqtt.connect(options.url, {
    ...mqttClientLog(),
    clientId: options.clientId,
    clean: true,
    protocolVersion: options.protocolVersion,
    keepalive: options.keepaliveSeconds,
    reconnectPeriod: 1_000,
    connectTimeout: 10_000,
    username: options.username,
    password: options.password,
    ca: options.tls?.ca === undefined ? undefined : readFileSync(options.tls.ca),
    cert: options.tls?.cert === undefined ? undefined : readFileSync(options.tls.cert),
    key: options.tls?.key === undefined ? undefined : readFileSync(options.tls.key),
    rejectUnauthorized: options.tls?.rejectUnauthorized ?? true,
  });
  // Connection errors are retried by mqtt.js; publish failures surface through publish().
  client.on('error', () => undefined);
  // Results leave as they are written, not held until the broker ACKs the previous one.
  client.on('connect', () => sendPromptly(client.stream));
  return {
    async publish(topic, payload, qos) {
      if (client.connected) batchWritesThisTurn(client.stream);
      await client.publishAsync(topic, payload, { qos });
    },
    async end() {
      // The publisher already waited for what was in flight; do not hang on a broker that is away.
      await client.endAsync(true);
    },
  };
};

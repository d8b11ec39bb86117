/**
 * The `source: { kind: mqtt }` block of a flow file: its zod piece (composed in src/flows/schema.ts), its type and
 * the MQTT client's defaults, which the source applies to whatever its caller leaves out.
 */
import { z } from 'zod';
import { doc, nonNegativeInt, positiveInt, refineWith, urlWithScheme } from '../config/field-doc.ts';
import { sharedGroupProblem, topicFilterProblem } from '../config/syntax.ts';

/** The MQTT client's defaults, for the source and the flow schema alike (docs/flows.md). */
export const MQTT_DEFAULTS = {
  protocolVersion: 5,
  maxPacketBytes: 16 * 1024 * 1024,
  keepaliveSeconds: 30,
  reconnectPeriodMs: 1_000,
  connectTimeoutMs: 10_000,
  sessionExpirySeconds: 86_400,
} as const;

/** What the flow schema fills in for an MQTT source block that leaves these out. */
export const MQTT_SOURCE_DEFAULTS = {
  qos: 1,
  cleanSession: false,
  protocolVersion: MQTT_DEFAULTS.protocolVersion,
  maxPacketBytes: MQTT_DEFAULTS.maxPacketBytes,
  keepaliveSeconds: MQTT_DEFAULTS.keepaliveSeconds,
} as const;

export const MQTT_TLS_DEFAULTS = { rejectUnauthorized: true } as const;

export const mqttTlsSchema = z
  .object({
    ca: doc(z.string().min(1).optional(), 'CA certificate file (PEM) used to verify the broker; the system CAs when absent.', '/etc/edgeke/ca.pem'),
    cert: doc(z.string().min(1).optional(), 'Client certificate file (PEM) for mutual TLS.', '/etc/edgeke/client.pem'),
    key: doc(z.string().min(1).optional(), 'Client private key file (PEM) for mutual TLS.', '/etc/edgeke/client.key'),
    rejectUnauthorized: doc(z.boolean().default(MQTT_TLS_DEFAULTS.rejectUnauthorized), 'Reject brokers whose certificate does not verify. Turn off only on a test bench.', true),
  })
  .strict()
  .refine((tls) => (tls.cert === undefined) === (tls.key === undefined), { message: 'cert and key go together', path: ['key'] });

export const mqttSourceSchema = z
  .object({
    kind: doc(z.literal('mqtt'), 'Subscribe to an MQTT broker.', 'mqtt'),
    url: doc(urlWithScheme(['mqtt', 'mqtts', 'ws', 'wss']), 'Broker URL.', 'mqtt://127.0.0.1:1883'),
    topic: doc(z.string().superRefine(refineWith(topicFilterProblem)), "Topic filter to subscribe to; '+' and '#' allowed as whole levels.", 'plant/line1/+/camera'),
    qos: doc(z.literal([0, 1]).default(MQTT_SOURCE_DEFAULTS.qos), "Subscription QoS. With 1, a message is acknowledged only once its result is durable: fsync'd to the flow's write-ahead log (a result not stored leaves it for redelivery).", 1),
    sharedGroup: doc(
      z.string().superRefine(refineWith(sharedGroupProblem)).optional(),
      'Shared subscription group ($share/<group>/<topic>) so several EdgeKE instances split the messages.',
      'edgeke',
    ),
    clientId: doc(
      z.string().min(1).max(128).optional(),
      'Fixed MQTT client id, so the broker keeps the session (and queued QoS 1 messages) across restarts. Default: edgeke-<flow name>.',
      'edgeke-line1-camera',
    ),
    cleanSession: doc(z.boolean().default(MQTT_SOURCE_DEFAULTS.cleanSession), 'Start a fresh session on connect (drops messages queued while EdgeKE was away).', false),
    username: doc(z.string().min(1).optional(), 'Broker user name.', '${MQTT_USERNAME}'),
    password: doc(z.string().min(1).optional(), 'Broker password; must be written as ${ENV_VAR}.', '${MQTT_PASSWORD}', { secret: true }),
    tls: doc(mqttTlsSchema.optional(), 'TLS settings (used with mqtts:// and wss://).', { ca: '/etc/edgeke/ca.pem' }),
    protocolVersion: doc(z.literal([5, 4]).default(MQTT_SOURCE_DEFAULTS.protocolVersion), 'MQTT protocol version: 5 (user properties id/ts, shared subscriptions) or 4 (3.1.1).', 5),
    maxPacketBytes: doc(positiveInt().default(MQTT_SOURCE_DEFAULTS.maxPacketBytes), 'Largest MQTT packet accepted from the broker, in bytes.', 16_777_216),
    keepaliveSeconds: doc(nonNegativeInt().max(65_535).default(MQTT_SOURCE_DEFAULTS.keepaliveSeconds), 'MQTT keepalive interval in seconds (0 = off).', 30),
  })
  .strict();

export type MqttTlsConfig = z.infer<typeof mqttTlsSchema>;
export type MqttSourceConfig = z.infer<typeof mqttSourceSchema>;

/** The MQTT client id of a flow's source: the configured one, else `edgeke-<flow name>` (stable across restarts). */
export function mqttClientId(flow: { name: string; source: Pick<MqttSourceConfig, 'clientId'> }): string {
  return flow.source.clientId ?? `edgeke-${flow.name}`;
}

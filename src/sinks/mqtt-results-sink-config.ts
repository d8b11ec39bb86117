/**
 * The `sinks.mqttResults` block of a flow file: its zod piece (composed in src/flows/schema.ts), its type and its
 * defaults. Left-out broker settings come from the MQTT source (create-mqtt-results-publisher.ts).
 */
import { z } from 'zod';
import { doc, refineWith, urlWithScheme } from '../config/field-doc.ts';
import { topicNameProblem } from '../config/syntax.ts';
import { mqttTlsSchema, MQTT_DEFAULTS, type MqttSourceConfig } from '../sources/mqtt-source-config.ts';

/** What the flow schema fills in for an mqttResults block that leaves these out. */
export const MQTT_RESULTS_SINK_DEFAULTS = { qos: 1 } as const;

/** The results connection's settings when neither the sink nor an MQTT source sets them. */
export const MQTT_RESULTS_CLIENT_DEFAULTS = {
  protocolVersion: MQTT_DEFAULTS.protocolVersion,
  keepaliveSeconds: MQTT_DEFAULTS.keepaliveSeconds,
} as const;

export const mqttResultsSinkSchema = z
  .object({
    topic: doc(z.string().superRefine(refineWith(topicNameProblem)), 'Topic the JSON results are published to (no wildcards).', 'plant/line1/camera/results'),
    qos: doc(z.literal([0, 1]).default(MQTT_RESULTS_SINK_DEFAULTS.qos), 'Publish QoS.', 1),
    url: doc(urlWithScheme(['mqtt', 'mqtts', 'ws', 'wss']).optional(), "Broker URL; default: the MQTT source's broker (required for OPC UA flows).", 'mqtt://127.0.0.1:1883'),
    protocolVersion: doc(
      z.literal([5, 4]).optional(),
      "MQTT protocol version of the results connection; default: the MQTT source's, else 5 (4 for MQTT 3.1.1 brokers such as the embedded one).",
      5,
    ),
    username: doc(z.string().min(1).optional(), "Results broker user name; default: the MQTT source's when the broker is the same.", '${MQTT_RESULTS_USERNAME}'),
    password: doc(z.string().min(1).optional(), 'Results broker password; must be written as ${ENV_VAR}.', '${MQTT_RESULTS_PASSWORD}', { secret: true }),
    tls: doc(mqttTlsSchema.optional(), "TLS settings of the results connection (mqtts:// and wss:// only); default: the MQTT source's when the broker is the same.", { ca: '/etc/edgeke/ca.pem' }),
  })
  .strict()
  .superRefine((sink, ctx) => {
    if ((sink.username === undefined) !== (sink.password === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['password'], message: 'username and password go together' });
    }
    if (sink.tls !== undefined && sink.url !== undefined && !/^(mqtts|wss):/i.test(sink.url)) {
      ctx.addIssue({ code: 'custom', path: ['tls'], message: 'tls needs an mqtts:// or wss:// url (with mqtt:// or ws:// it would be ignored and the connection unencrypted)' });
    }
  });

export type MqttResultsSinkConfig = z.infer<typeof mqttResultsSinkSchema>;

/** What the results sink reads of a flow: its name, its source (the broker it may share) and its results block. */
export interface MqttResultsFlow {
  name: string;
  source: MqttSourceConfig | { kind: 'opcua' };
  sinks: { mqttResults?: MqttResultsSinkConfig | undefined };
}

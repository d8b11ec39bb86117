/**
 * The flow file schema: the single source of truth for what a flow file may say. TypeScript types are inferred from
 * it, `edgeke check` validates with it and docs/flows.md is generated from it (scripts/gen-flow-docs.ts), so every
 * field carries a description, an example and (unless required) a default.
 */
import { z } from 'zod';
import { DEVICE_CLOCK_DEFAULTS, DEVICE_KEYS } from '../core/device-clock-defaults.ts';
import { IMAGE_PIXELS_PER_INPUT_PIXEL, IMAGE_SIDE_PER_INPUT_SIDE } from '../decode/image-limits.ts';
import { MQTT_DEFAULTS } from '../sources/mqtt-defaults.ts';
import { nodeIdProblem, sharedGroupProblem, topicFilterProblem, topicNameProblem } from './syntax.ts';

/** Documentation attached to every field; `secret` fields must come from an env variable and are never echoed. */
export type FieldDoc = {
  description: string;
  examples: unknown[];
  secret?: boolean;
};

function doc<T extends z.ZodType>(schema: T, description: string, example: unknown, extra: { secret?: boolean } = {}): T {
  const meta: FieldDoc = { description, examples: [example], ...extra };
  return schema.meta(meta);
}

function refineWith(problem: (value: string) => string | undefined) {
  return (value: string, ctx: z.core.$RefinementCtx<string>): void => {
    const reason = problem(value);
    if (reason !== undefined) ctx.addIssue({ code: 'custom', message: reason });
  };
}

const urlWithScheme = (schemes: string[]) =>
  z.string().refine(
    (value) => {
      try {
        return schemes.includes(new URL(value).protocol.replace(/:$/, ''));
      } catch {
        return false;
      }
    },
    { message: `expected a URL starting with ${schemes.map((scheme) => `${scheme}://`).join(', ')}` },
  );

const positiveInt = () => z.number().int().positive();
const nonNegativeInt = () => z.number().int().nonnegative();

// ---------------------------------------------------------------------------------------------------------------
// Source: MQTT

export const mqttTlsSchema = z
  .object({
    ca: doc(z.string().min(1).optional(), 'CA certificate file (PEM) used to verify the broker; the system CAs when absent.', '/etc/edgeke/ca.pem'),
    cert: doc(z.string().min(1).optional(), 'Client certificate file (PEM) for mutual TLS.', '/etc/edgeke/client.pem'),
    key: doc(z.string().min(1).optional(), 'Client private key file (PEM) for mutual TLS.', '/etc/edgeke/client.key'),
    rejectUnauthorized: doc(z.boolean().default(true), 'Reject brokers whose certificate does not verify. Turn off only on a test bench.', true),
  })
  .strict()
  .refine((tls) => (tls.cert === undefined) === (tls.key === undefined), { message: 'cert and key go together', path: ['key'] });

export const mqttSourceSchema = z
  .object({
    kind: doc(z.literal('mqtt'), 'Subscribe to an MQTT broker.', 'mqtt'),
    url: doc(urlWithScheme(['mqtt', 'mqtts', 'ws', 'wss']), 'Broker URL.', 'mqtt://127.0.0.1:1883'),
    topic: doc(z.string().superRefine(refineWith(topicFilterProblem)), "Topic filter to subscribe to; '+' and '#' allowed as whole levels.", 'plant/line1/+/camera'),
    qos: doc(z.literal([0, 1]).default(1), "Subscription QoS. With 1, a message is acknowledged only once its result is durable: fsync'd to the flow's write-ahead log (a result not stored leaves it for redelivery).", 1),
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
    cleanSession: doc(z.boolean().default(false), 'Start a fresh session on connect (drops messages queued while EdgeKE was away).', false),
    username: doc(z.string().min(1).optional(), 'Broker user name.', '${MQTT_USERNAME}'),
    password: doc(z.string().min(1).optional(), 'Broker password; must be written as ${ENV_VAR}.', '${MQTT_PASSWORD}', { secret: true }),
    tls: doc(mqttTlsSchema.optional(), 'TLS settings (used with mqtts:// and wss://).', { ca: '/etc/edgeke/ca.pem' }),
    protocolVersion: doc(z.literal([5, 4]).default(5), 'MQTT protocol version: 5 (user properties id/ts, shared subscriptions) or 4 (3.1.1).', 5),
    maxPacketBytes: doc(positiveInt().default(MQTT_DEFAULTS.maxPacketBytes), 'Largest MQTT packet accepted from the broker, in bytes.', 16_777_216),
    keepaliveSeconds: doc(nonNegativeInt().max(65_535).default(MQTT_DEFAULTS.keepaliveSeconds), 'MQTT keepalive interval in seconds (0 = off).', 30),
  })
  .strict();

// ---------------------------------------------------------------------------------------------------------------
// Source: OPC UA

export const opcuaWindowSchema = z.discriminatedUnion('by', [
  z
    .object({
      by: doc(z.literal('count'), 'Close a window after a fixed number of samples.', 'count'),
      samples: doc(positiveInt().default(2048), 'Samples per window (should equal the model input length).', 2048),
    })
    .strict(),
  z
    .object({
      by: doc(z.literal('time'), 'Close a window after a fixed time span.', 'time'),
      ms: doc(z.number().positive().default(1000), 'Window length in milliseconds.', 170),
    })
    .strict(),
]);

const SECURITY_POLICIES = ['None', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss'] as const;

export const opcuaSourceSchema = z
  .object({
    kind: doc(z.literal('opcua'), 'Monitor variables of an OPC UA server.', 'opcua'),
    endpoint: doc(urlWithScheme(['opc.tcp']), 'Server endpoint URL.', 'opc.tcp://127.0.0.1:4840/edgeke'),
    nodeIds: doc(
      z.array(z.string().superRefine(refineWith(nodeIdProblem))).min(1),
      'Variables to monitor (scalars or sample blocks); the samples of each variable are joined, in order, into its own windows (one frame per window).',
      ['ns=1;s=Bearing.DriveEnd.Acceleration'],
    ),
    samplingIntervalMs: doc(z.number().nonnegative().default(100), 'Requested sampling interval of each monitored item (0 = fastest).', 100),
    queueSize: doc(positiveInt().default(100), 'Server-side queue of each monitored item, so no change is lost between publishes.', 100),
    securityMode: doc(z.enum(['None', 'Sign', 'SignAndEncrypt']).default('None'), 'Message security mode.', 'SignAndEncrypt'),
    securityPolicy: doc(z.enum(SECURITY_POLICIES).default('None'), 'Security policy (None only with securityMode None).', 'Basic256Sha256'),
    certificateStore: doc(z.string().min(1).default('./pki'), 'Folder of the client certificate store (PKI); created if missing.', './pki'),
    username: doc(z.string().min(1).optional(), 'User name for user-token authentication (anonymous when absent).', '${OPCUA_USERNAME}'),
    password: doc(z.string().min(1).optional(), 'Password; must be written as ${ENV_VAR}.', '${OPCUA_PASSWORD}', { secret: true }),
    window: doc(
      opcuaWindowSchema.default({ by: 'count', samples: 2048 }),
      'How samples are joined into one frame: by count or by time.',
      { by: 'count', samples: 2048 },
    ),
  })
  .strict()
  .superRefine((source, ctx) => {
    if ((source.securityMode === 'None') !== (source.securityPolicy === 'None')) {
      ctx.addIssue({ code: 'custom', path: ['securityPolicy'], message: "securityMode None goes with securityPolicy None, and only with it" });
    }
    if ((source.username === undefined) !== (source.password === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['password'], message: 'username and password go together' });
    }
  });

export const sourceSchema = z.discriminatedUnion('kind', [mqttSourceSchema, opcuaSourceSchema]);

// ---------------------------------------------------------------------------------------------------------------
// Decoding, model, policy, batching

export const DECODE_KINDS = ['image', 'json-values', 'float32', 'opcua-samples'] as const;

export const modelSchema = z
  .object({
    path: doc(z.string().min(1), 'Model folder (with manifest.json), relative to the working directory.', 'models/neu-surface'),
    engine: doc(z.enum(['onnx', 'tfjs']).default('onnx'), 'Inference engine.', 'onnx'),
    threads: doc(positiveInt().max(64).default(1), 'Intra-op threads for the engine.', 1),
  })
  .strict();

const CONFIDENCE_STOPS = ['none', '0.90', '0.95', '0.99'] as const;

export const policySchema = z
  .object({
    mode: doc(
      z.enum(['deadline', 'accuracy', 'fixed']).default('deadline'),
      'deadline: deepest exit that fits the slack. accuracy: shallowest exit whose validated accuracy meets accuracyTarget. fixed: every frame runs exactly to `exit` (no confidence stop, never lowered); a frame that cannot make its deadline there follows latePolicy.',
      'deadline',
    ),
    exit: doc(
      positiveInt().optional(),
      "The exit every frame runs to in fixed mode (1 = the first; at most the model's exit count). Required with mode fixed, and only there.",
      2,
    ),
    deadlineMs: doc(z.number().positive().default(100), 'Deadline per frame, counted from its capture time, in milliseconds.', 50),
    accuracyTarget: doc(z.number().gt(0).max(1).default(0.95), 'Accuracy target (0..1] in accuracy mode.', 0.97),
    confidenceStop: doc(
      // YAML reads 0.90 as the number 0.9: accept both spellings.
      z.preprocess((value) => (typeof value === 'number' ? value.toFixed(2) : value), z.enum(CONFIDENCE_STOPS)).default('none'),
      "Stop at an exit once its confidence passes the threshold calibrated for this accuracy ('none' = never stop early).",
      '0.95',
    ),
    confidenceStopWhen: doc(
      z.enum(['busy', 'always']).default('busy'),
      'busy: stop early only when the load leaves no time to run every frame to its preferred exit, and only where a stop buys more expected accuracy per millisecond than a shallower cap (an idle machine answers from the preferred exit, its most accurate). always: stop early on every frame (least work).',
      'busy',
    ),
    vote: doc(z.boolean().default(false), 'A frame that reaches the last exit without passing any threshold is answered by the weighted vote of all exits, where the manifest says the vote beat the last exit on such frames of the validation split (vote.byLevel; else over all frames).', false),
    latePolicy: doc(
      z.enum(['shed', 'answer-late']).default('shed'),
      'When even exit 1 cannot meet the deadline: shed the frame, or answer from exit 1 and mark it late.',
      'answer-late',
    ),
    riskQuantile: doc(z.number().min(0.5).lt(1).default(0.95), 'Latency quantile the controller plans with (higher = fewer misses, shallower exits).', 0.95),
  })
  .strict()
  .superRefine((policy, ctx) => {
    if (policy.mode === 'fixed' && policy.exit === undefined) {
      ctx.addIssue({ code: 'custom', path: ['exit'], message: 'required with mode fixed: the exit every frame runs to' });
    }
    if (policy.mode !== 'fixed' && policy.exit !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['exit'], message: `applies only with mode fixed (mode is ${policy.mode}): remove it or set mode: fixed` });
    }
  });

export const batchingSchema = z
  .object({
    maxBatch: doc(positiveInt().max(256).default(4), 'Most frames run through the model together.', 8),
    maxWaitMs: doc(z.number().nonnegative().default(5), 'Longest a frame waits for a batch to fill, in milliseconds.', 5),
  })
  .strict();

// ---------------------------------------------------------------------------------------------------------------
// Sinks

export const retentionPolicySchema = z
  .object({
    name: doc(z.string().min(1).default('edgeke'), 'Retention policy name (created if missing).', 'edgeke'),
    duration: doc(z.string().regex(/^(inf|(\d+(ns|u|µ|ms|s|m|h|d|w))+)$/, 'expected an InfluxQL duration such as 30d, 12h or inf').default('30d'), 'How long points are kept.', '30d'),
  })
  .strict();

export const influxSinkSchema = z
  .object({
    url: doc(urlWithScheme(['http', 'https']), 'InfluxDB 1.x HTTP URL.', 'http://127.0.0.1:8086'),
    database: doc(z.string().min(1).default('edgeke'), 'Database (created if missing).', 'edgeke'),
    retentionPolicy: doc(retentionPolicySchema.default({ name: 'edgeke', duration: '30d' }), 'Retention policy the points are written to.', { name: 'edgeke', duration: '30d' }),
    username: doc(z.string().min(1).optional(), 'InfluxDB user.', '${INFLUX_USERNAME}'),
    password: doc(z.string().min(1).optional(), 'InfluxDB password; must be written as ${ENV_VAR}.', '${INFLUX_PASSWORD}', { secret: true }),
    batchSize: doc(positiveInt().max(50_000).default(500), 'Points per write request; a full batch is written at once.', 500),
    flushIntervalMs: doc(positiveInt().default(1000), 'Longest a point waits in the buffer before a write, in milliseconds.', 1000),
    bufferMaxPoints: doc(
      positiveInt().default(100_000),
      'Points of the write-ahead log kept in memory for writing to InfluxDB; older ones are read back from disk.',
      100_000,
    ),
    walDir: doc(
      z.string().min(1).optional(),
      'Folder of the flow\'s write-ahead log: every point is fsync\'d here before its frame is acknowledged, and stays until InfluxDB confirms it. Default: $EDGEKE_STATE_DIR/wal/<flow name>, else .edgeke/wal/<flow name> in the working directory.',
      './state/wal/line1-camera',
    ),
    walMaxBytes: doc(
      positiveInt().min(65_536).optional(),
      'Bound on the write-ahead log (points not yet in InfluxDB). At it, frames are not acknowledged and intake waits until InfluxDB takes points again; nothing is dropped. Default 268435456 (256 MiB).',
      268_435_456,
    ),
    walCommitIntervalMs: doc(
      z.number().positive().max(1000).optional(),
      'Group commit: longest a point waits for the fsync that makes it durable (one fsync per group of points). Default 10. Shorter acknowledges sooner; longer costs less CPU per point (docs/reliability.md).',
      10,
    ),
    spillDir: doc(z.string().min(1).optional(), 'Old name of walDir (used when walDir is absent).', './spill/line1-camera'),
    spillMaxBytes: doc(positiveInt().min(65_536).optional(), 'Old name of walMaxBytes (used when walMaxBytes is absent).', 268_435_456),
    statsIntervalMs: doc(positiveInt().default(5000), 'Interval of the flow_stats points, in milliseconds.', 5000),
  })
  .strict();

export const mqttResultsSinkSchema = z
  .object({
    topic: doc(z.string().superRefine(refineWith(topicNameProblem)), 'Topic the JSON results are published to (no wildcards).', 'plant/line1/camera/results'),
    qos: doc(z.literal([0, 1]).default(1), 'Publish QoS.', 1),
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

export const sinksSchema = z
  .object({
    influx: doc(influxSinkSchema.optional(), 'Write results and telemetry to InfluxDB (see docs/telemetry.md).', { url: 'http://127.0.0.1:8086' }),
    mqttResults: doc(mqttResultsSinkSchema.optional(), 'Publish one JSON result per frame over MQTT.', { topic: 'plant/line1/camera/results' }),
  })
  .strict();

export const limitsSchema = z
  .object({
    maxPayloadBytes: doc(positiveInt().default(4 * 1024 * 1024), 'Largest payload decoded; larger ones are rejected before parsing.', 4_194_304),
    queueCapacity: doc(positiveInt().default(64), 'Frames waiting for inference before admission sheds.', 64),
    maxInFlight: doc(
      positiveInt().max(65_535).default(256),
      'Most messages received and not yet acknowledged (the MQTT 5 receive maximum). Frames wait for the decoder newest first and are shed as their deadline runs out, so this only bounds memory (at most maxInFlight x maxPayloadBytes); beyond it the oldest waiting frame is shed (queue-full).',
      256,
    ),
    maxImagePixels: doc(
      positiveInt().optional(),
      `Largest image (width x height, as its header declares) decoded; larger ones are rejected (reason image-too-large) before any decoding. Default: ${IMAGE_PIXELS_PER_INPUT_PIXEL}x the model input's pixels.`,
      2_560_000,
    ),
    maxImageSide: doc(
      positiveInt().optional(),
      `Largest image width or height, in pixels, decoded; checked from the header like maxImagePixels. Default: ${IMAGE_SIDE_PER_INPUT_SIDE}x the model input's larger side.`,
      3200,
    ),
  })
  .strict();

const clocksSchema = z
  .object({
    deviceKey: doc(
      z.enum(DEVICE_KEYS).default(DEVICE_CLOCK_DEFAULTS.deviceKey),
      "How devices are told apart for their clock skew (metric edgeke_device_clock_skew_seconds, label device): topic (the MQTT topic or OPC UA node a frame came on) or id-prefix (the frame id up to its last idPrefixSeparator, for devices sharing a topic; an id without it falls back to the topic; frames the device sent without an id get <flow>-<n> ids, so they share the device <flow>).",
      'id-prefix',
    ),
    idPrefixSeparator: doc(
      z.string().min(1).max(8).default(DEVICE_CLOCK_DEFAULTS.idPrefixSeparator),
      'With deviceKey id-prefix: the device is the frame id up to the last occurrence of this (cam7-000123 -> cam7).',
      '-',
    ),
    futureToleranceMs: doc(
      nonNegativeInt().default(DEVICE_CLOCK_DEFAULTS.futureToleranceMs),
      'A capture time later than the receive time by more than this is not trusted: the receive time stands in (counted). Within it (NTP jitter) latencies are clamped at 0.',
      50,
    ),
    logThresholdMs: doc(
      positiveInt().default(DEVICE_CLOCK_DEFAULTS.logThresholdMs),
      "A device whose estimated skew passes this is logged (once, and again when it is back within half of it).",
      250,
    ),
  })
  .strict();

// ---------------------------------------------------------------------------------------------------------------
// The flow

export const flowSchema = z
  .object({
    name: doc(
      z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'expected 1-64 letters, digits, _ . - (starting with a letter or digit)'),
      'Unique flow name; used in telemetry tags, logs and the default MQTT client id.',
      'line1-camera',
    ),
    source: doc(sourceSchema, 'Where frames come from: kind mqtt or opcua.', { kind: 'mqtt', url: 'mqtt://127.0.0.1:1883', topic: 'plant/line1/camera' }),
    decode: doc(
      z.enum(DECODE_KINDS),
      'Payload format: image (JPEG/PNG bytes or JSON {id, ts, image: base64}), json-values (JSON {id, ts, values: [...]}), float32 (raw little-endian float32), opcua-samples (OPC UA windows).',
      'image',
    ),
    model: doc(modelSchema, 'The multi-exit model that answers the frames.', { path: 'models/neu-surface' }),
    policy: doc(policySchema.default(policySchema.parse({})), 'How the exit is chosen per frame.', { mode: 'deadline', deadlineMs: 50 }),
    batching: doc(batchingSchema.default(batchingSchema.parse({})), 'Micro-batching in front of the model.', { maxBatch: 8, maxWaitMs: 5 }),
    sinks: doc(sinksSchema.default({}), 'Where results go.', { influx: { url: 'http://127.0.0.1:8086' } }),
    limits: doc(limitsSchema.default(limitsSchema.parse({})), 'Input bounds.', { maxPayloadBytes: 4_194_304, queueCapacity: 64 }),
    clocks: doc(clocksSchema.default(clocksSchema.parse({})), 'Device clocks: how devices are told apart for their skew, and when a capture time is trusted.', { deviceKey: 'id-prefix', idPrefixSeparator: '-' }),
  })
  .strict()
  .superRefine((flow, ctx) => {
    const kind = flow.source.kind;
    if (kind === 'opcua' && flow.decode !== 'opcua-samples') {
      ctx.addIssue({ code: 'custom', path: ['decode'], message: "an opcua source delivers sample windows: expected decode 'opcua-samples'" });
    }
    if (kind === 'mqtt' && flow.decode === 'opcua-samples') {
      ctx.addIssue({ code: 'custom', path: ['decode'], message: "'opcua-samples' needs an opcua source: expected image, json-values or float32" });
    }
    if (kind === 'opcua' && flow.sinks.mqttResults !== undefined && flow.sinks.mqttResults.url === undefined) {
      ctx.addIssue({ code: 'custom', path: ['sinks', 'mqttResults', 'url'], message: 'required when the source is not MQTT (there is no broker to reuse)' });
    }
    const results = flow.sinks.mqttResults;
    if (kind === 'mqtt' && results?.tls !== undefined && results.url === undefined && !/^(mqtts|wss):/i.test(flow.source.url)) {
      ctx.addIssue({ code: 'custom', path: ['sinks', 'mqttResults', 'tls'], message: "tls needs an mqtts:// or wss:// url: set sinks.mqttResults.url (the source's is not one)" });
    }
    if (kind === 'mqtt' && flow.source.maxPacketBytes < flow.limits.maxPayloadBytes) {
      ctx.addIssue({ code: 'custom', path: ['source', 'maxPacketBytes'], message: 'expected at least limits.maxPayloadBytes' });
    }
  });

export type FlowConfig = z.infer<typeof flowSchema>;
/** A flow file as written (defaults not yet applied). */
export type FlowConfigInput = z.input<typeof flowSchema>;
export type SourceConfig = FlowConfig['source'];
export type MqttSourceConfig = z.infer<typeof mqttSourceSchema>;
export type OpcuaSourceConfig = z.infer<typeof opcuaSourceSchema>;
export type OpcuaWindowConfig = z.infer<typeof opcuaWindowSchema>;
export type DecodeKind = FlowConfig['decode'];
export type ModelConfig = FlowConfig['model'];
export type PolicyConfig = FlowConfig['policy'];
export type BatchingConfig = FlowConfig['batching'];
export type InfluxSinkConfig = z.infer<typeof influxSinkSchema>;
export type MqttResultsSinkConfig = z.infer<typeof mqttResultsSinkSchema>;
export type LimitsConfig = FlowConfig['limits'];

/** Paths of fields that must be written as ${ENV_VAR} references and are never echoed. */
export const SECRET_PATHS: readonly string[] = ['source.password', 'sinks.influx.password', 'sinks.mqttResults.password'];

/** The MQTT client id of a flow's source: the configured one, else `edgeke-<flow name>` (stable across restarts). */
export function mqttClientId(flow: Pick<FlowConfig, 'name'> & { source: Pick<MqttSourceConfig, 'clientId'> }): string {
  return flow.source.clientId ?? `edgeke-${flow.name}`;
}

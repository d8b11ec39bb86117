/**
 * The flow file schema: the single source of truth for what a flow file may say. TypeScript types are inferred from
 * it, `edgeke check` validates with it and docs/flows.md is generated from it (scripts/gen-flow-docs.ts), so every
 * field carries a description, an example and (unless required) a default.
 *
 * Each block is declared beside the component that consumes it, with its type and defaults (the `*-config.ts`
 * files imported below); this file composes them and adds the rules that span blocks.
 */
import { z } from 'zod';
import { doc } from '../config/field-doc.ts';
import { batchingSchema } from '../control/batching-config.ts';
import { clocksSchema } from '../config/device-clocks-config.ts';
import { policySchema } from '../control/policy-config.ts';
import { limitsSchema } from '../decode/input-limits-config.ts';
import { modelSchema } from '../model/model-config.ts';
import { influxSinkSchema } from '../sinks/influx-sink-config.ts';
import { mqttResultsSinkSchema } from '../sinks/mqtt-results-sink-config.ts';
import { mqttSourceSchema } from '../sources/mqtt-source-config.ts';
import { opcuaSourceSchema } from '../sources/opcua-source-config.ts';

export type { FieldDoc } from '../config/field-doc.ts';
export { batchingSchema, type BatchingConfig } from '../control/batching-config.ts';
export { policySchema, type PolicyConfig } from '../control/policy-config.ts';
export { limitsSchema, type LimitsConfig } from '../decode/input-limits-config.ts';
export { modelSchema, type ModelConfig } from '../model/model-config.ts';
export { influxSinkSchema, retentionPolicySchema, type InfluxSinkConfig } from '../sinks/influx-sink-config.ts';
export { mqttResultsSinkSchema, type MqttResultsSinkConfig } from '../sinks/mqtt-results-sink-config.ts';
export { mqttClientId, mqttSourceSchema, mqttTlsSchema, type MqttSourceConfig } from '../sources/mqtt-source-config.ts';
export { opcuaSourceSchema, opcuaWindowSchema, type OpcuaSourceConfig, type OpcuaWindowConfig } from '../sources/opcua-source-config.ts';

export const sourceSchema = z.discriminatedUnion('kind', [mqttSourceSchema, opcuaSourceSchema]);

export const DECODE_KINDS = ['image', 'json-values', 'float32', 'opcua-samples'] as const;

export const sinksSchema = z
  .object({
    influx: doc(influxSinkSchema.optional(), 'Write results and telemetry to InfluxDB (see docs/telemetry.md).', { url: 'http://127.0.0.1:8086' }),
    mqttResults: doc(mqttResultsSinkSchema.optional(), 'Publish one JSON result per frame over MQTT.', { topic: 'plant/line1/camera/results' }),
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
export type DecodeKind = FlowConfig['decode'];

/** Paths of fields that must be written as ${ENV_VAR} references and are never echoed. */
export const SECRET_PATHS: readonly string[] = ['source.password', 'sinks.influx.password', 'sinks.mqttResults.password'];


import { describe, expect, it } from 'vitest';
import { DEVICE_CLOCK_DEFAULTS } from '../../src/config/device-clocks-config.ts';
import { BATCHING_DEFAULTS } from '../../src/control/batching-config.ts';
import { POLICY_DEFAULTS } from '../../src/control/policy-config.ts';
import { INPUT_LIMITS_DEFAULTS } from '../../src/decode/input-limits-config.ts';
import { flowFieldRows } from '../../src/flows/flow-docs.ts';
import { flowSchema } from '../../src/flows/schema.ts';
import { MODEL_DEFAULTS } from '../../src/model/model-config.ts';
import { resultsClientOptions } from '../../src/sinks/create-mqtt-results-publisher.ts';
import { INFLUX_SINK_DEFAULTS, WAL_DEFAULTS } from '../../src/sinks/influx-sink-config.ts';
import { MQTT_RESULTS_SINK_DEFAULTS } from '../../src/sinks/mqtt-results-sink-config.ts';
import { MQTT_DEFAULTS, MQTT_SOURCE_DEFAULTS, MQTT_TLS_DEFAULTS } from '../../src/sources/mqtt-source-config.ts';
import { OPCUA_SOURCE_DEFAULTS, OPCUA_WINDOW_DEFAULTS } from '../../src/sources/opcua-source-config.ts';

/**
 * Each component exports the defaults of its config piece beside it; the flow schema composes the pieces. A flow
 * file that writes only what is required must come out with exactly those defaults, block by block (toEqual: a
 * default added to a piece without its export, or changed on one side only, fails here).
 */
const mqttFlow = flowSchema.parse({
  name: 'line1',
  source: { kind: 'mqtt', url: 'mqtt://127.0.0.1:1883', topic: 'plant/line1/camera', tls: {} },
  decode: 'image',
  model: { path: 'models/neu-surface' },
  sinks: { influx: { url: 'http://127.0.0.1:8086' }, mqttResults: { topic: 'plant/line1/results' } },
});

const opcuaFlow = (window?: unknown) =>
  flowSchema.parse({
    name: 'pump',
    source: { kind: 'opcua', endpoint: 'opc.tcp://127.0.0.1:4840/edgeke', nodeIds: ['ns=1;s=Pump.Vibration'], ...(window === undefined ? {} : { window }) },
    decode: 'opcua-samples',
    model: { path: 'models/cwru-bearing' },
    sinks: { mqttResults: { topic: 'plant/pump/results', url: 'mqtt://127.0.0.1:1883' } },
  });

describe('component config defaults, composed in the flow schema', () => {
  it('gives an MQTT source the MQTT source defaults (and its tls block the TLS ones)', () => {
    expect(mqttFlow.source).toEqual({ kind: 'mqtt', url: 'mqtt://127.0.0.1:1883', topic: 'plant/line1/camera', tls: { ...MQTT_TLS_DEFAULTS }, ...MQTT_SOURCE_DEFAULTS });
    // The flow schema's MQTT defaults are the client's own (once 16 MiB vs 4 MiB and 30 s vs 10 s).
    expect(MQTT_SOURCE_DEFAULTS).toMatchObject({ protocolVersion: MQTT_DEFAULTS.protocolVersion, maxPacketBytes: MQTT_DEFAULTS.maxPacketBytes, keepaliveSeconds: MQTT_DEFAULTS.keepaliveSeconds });
  });

  it('gives an OPC UA source the OPC UA source defaults, and each window kind its own', () => {
    expect(opcuaFlow().source).toEqual({ kind: 'opcua', endpoint: 'opc.tcp://127.0.0.1:4840/edgeke', nodeIds: ['ns=1;s=Pump.Vibration'], ...OPCUA_SOURCE_DEFAULTS });
    expect(opcuaFlow({ by: 'count' }).source).toMatchObject({ window: { by: 'count', samples: OPCUA_WINDOW_DEFAULTS.samples } });
    expect(opcuaFlow({ by: 'time' }).source).toMatchObject({ window: { by: 'time', ms: OPCUA_WINDOW_DEFAULTS.ms } });
  });

  it('gives the model, policy, batching and limits blocks their components\' defaults', () => {
    expect(mqttFlow.model).toEqual({ path: 'models/neu-surface', ...MODEL_DEFAULTS });
    expect(mqttFlow.policy).toEqual(POLICY_DEFAULTS);
    expect(mqttFlow.batching).toEqual(BATCHING_DEFAULTS);
    expect(mqttFlow.limits).toEqual(INPUT_LIMITS_DEFAULTS);
    const { deviceKey, idPrefixSeparator, futureToleranceMs, logThresholdMs } = DEVICE_CLOCK_DEFAULTS;
    expect(mqttFlow.clocks).toEqual({ deviceKey, idPrefixSeparator, futureToleranceMs, logThresholdMs });
  });

  it('gives the InfluxDB and MQTT results sinks their defaults', () => {
    expect(mqttFlow.sinks.influx).toEqual({ url: 'http://127.0.0.1:8086', ...INFLUX_SINK_DEFAULTS });
    expect(mqttFlow.sinks.mqttResults).toEqual({ topic: 'plant/line1/results', ...MQTT_RESULTS_SINK_DEFAULTS });
  });

  it('documents the defaults the components apply to optional fields (write-ahead log)', () => {
    const rows = new Map(flowFieldRows().map((row) => [row.path, row.description]));
    expect(rows.get('sinks.influx.walMaxBytes')).toContain(`Default ${WAL_DEFAULTS.maxBytes} `);
    expect(rows.get('sinks.influx.walCommitIntervalMs')).toContain(`Default ${WAL_DEFAULTS.commitIntervalMs}.`);
  });

  it('connects the results of a flow without an MQTT source as a default MQTT source would', () => {
    const options = resultsClientOptions(opcuaFlow());
    expect(options.protocolVersion).toBe(MQTT_SOURCE_DEFAULTS.protocolVersion);
    expect(options.keepaliveSeconds).toBe(MQTT_SOURCE_DEFAULTS.keepaliveSeconds);
  });
});

import type { Logger } from 'pino';
import type { Observable } from 'rxjs';
import type { RawMessage } from '../core/frame.ts';
import { mqttClientId, type FlowConfig } from '../flows/schema.ts';
import type { Manifest } from '../model/manifest.ts';
import { mqttSource } from '../sources/mqtt-source.ts';
import type { MqttTransportFactory } from '../sources/mqtt-transport.ts';
import type { SourceEvents } from '../sources/source-events.ts';

export interface SourceDeps {
  logger: Logger;
  events: SourceEvents;
  /** Tests may pass a fake MQTT client factory. */
  mqttConnect?: MqttTransportFactory;
}

/**
 * The flow's `source` block mapped onto its source component. The OPC UA source is imported only when a flow uses
 * it: node-opcua takes seconds of CPU to load, most of a cold start for a process that serves only MQTT flows.
 */
export async function sourceForFlow(config: FlowConfig, manifest: Manifest, deps: SourceDeps): Promise<Observable<RawMessage>> {
  const source = config.source;
  if (source.kind === 'mqtt') {
    return mqttSource(
      {
        flow: config.name,
        url: source.url,
        topic: source.topic,
        qos: source.qos,
        clientId: mqttClientId({ name: config.name, source }),
        cleanSession: source.cleanSession,
        protocolVersion: source.protocolVersion,
        maxPacketBytes: source.maxPacketBytes,
        keepaliveSeconds: source.keepaliveSeconds,
        // Unacknowledged QoS 1 messages in flight to us: the intake sheds by time, so the broker should not hold frames
        // back (they would age there, unseen); this bounds memory only.
        receiveMaximum: config.limits.maxInFlight,
        ...(source.sharedGroup === undefined ? {} : { sharedGroup: source.sharedGroup }),
        ...(source.username === undefined ? {} : { username: source.username }),
        ...(source.password === undefined ? {} : { password: source.password }),
        ...(source.tls === undefined ? {} : { tls: source.tls }),
      },
      { logger: deps.logger, events: deps.events, ...(deps.mqttConnect === undefined ? {} : { connect: deps.mqttConnect }) },
    );
  }
  const preprocessing = manifest.input.preprocessing;
  const { opcuaSource } = await import('../sources/opcua-source.ts');
  return opcuaSource(
    {
      flow: config.name,
      endpoint: source.endpoint,
      nodeIds: source.nodeIds,
      samplingIntervalMs: source.samplingIntervalMs,
      queueSize: source.queueSize,
      securityMode: source.securityMode,
      securityPolicy: source.securityPolicy,
      certificateStore: source.certificateStore,
      window: source.window,
      ...(preprocessing.kind === 'signal' ? { sampleRateHz: preprocessing.sampleRateHz } : {}),
      ...(source.username === undefined ? {} : { username: source.username }),
      ...(source.password === undefined ? {} : { password: source.password }),
    },
    { logger: deps.logger, events: deps.events },
  );
}

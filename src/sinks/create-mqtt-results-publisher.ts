import type { Logger } from 'pino';
import { ConfigError } from '../errors.ts';
import { createResultsMqttClient, type ResultsMqttClientFactory, type ResultsMqttOptions } from './mqtt-results-client.ts';
import { MQTT_RESULTS_CLIENT_DEFAULTS, type MqttResultsFlow, type MqttResultsSinkConfig } from './mqtt-results-sink-config.ts';
import { MqttResultsPublisher } from './mqtt-results.ts';

export interface MqttResultsDependencies {
  logger: Logger;
  /** Default: mqtt.js; unit tests pass fakes. */
  clientFactory?: ResultsMqttClientFactory;
  /** The model's class names, to publish label names. */
  classes?: readonly string[];
}

/**
 * Client options for a flow's results: its own broker URL, credentials and TLS when set; on the MQTT source's broker
 * (no URL, or the same URL) the source's credentials and TLS fill what the sink does not set. Another broker never
 * gets the source's credentials. The client id is `<source client id or edgeke-<flow>>-results`, distinct from the
 * source's so the two connections do not take each other's session. `tls` on a plain mqtt:// or ws:// URL is refused.
 */
export function resultsClientOptions(flow: MqttResultsFlow): ResultsMqttOptions {
  const sink = flow.sinks.mqttResults;
  if (sink === undefined) throw new ConfigError(`flow ${flow.name} has no sinks.mqttResults`);
  const source = flow.source.kind === 'mqtt' ? flow.source : undefined;
  const url = sink.url ?? source?.url;
  if (url === undefined) throw new ConfigError(`flow ${flow.name}: sinks.mqttResults.url is required when the source is not MQTT`);
  const sameBroker = source !== undefined && url === source.url;
  const options: ResultsMqttOptions = {
    url,
    clientId: `${source?.clientId ?? `edgeke-${flow.name}`}-results`,
    protocolVersion: sink.protocolVersion ?? source?.protocolVersion ?? MQTT_RESULTS_CLIENT_DEFAULTS.protocolVersion,
    keepaliveSeconds: source?.keepaliveSeconds ?? MQTT_RESULTS_CLIENT_DEFAULTS.keepaliveSeconds,
    username: sink.username ?? (sameBroker ? source.username : undefined),
    password: sink.password ?? (sameBroker ? source.password : undefined),
    tls: sink.tls ?? (sameBroker ? source.tls : undefined),
  };
  if (options.tls !== undefined && !/^(mqtts|wss):/i.test(url)) {
    throw new ConfigError(`flow ${flow.name}: sinks.mqttResults.tls needs an mqtts:// or wss:// url, not ${new URL(url).protocol}//`);
  }
  return options;
}

/** The MQTT results publisher of a flow, from its `sinks.mqttResults` config. */
export function createMqttResultsPublisher(flow: MqttResultsFlow, deps: MqttResultsDependencies): MqttResultsPublisher {
  const options = resultsClientOptions(flow);
  const sink = flow.sinks.mqttResults as MqttResultsSinkConfig;
  return new MqttResultsPublisher({
    flow: flow.name,
    topic: sink.topic,
    qos: sink.qos,
    client: (deps.clientFactory ?? createResultsMqttClient)(options),
    logger: deps.logger,
    classes: deps.classes,
  });
}

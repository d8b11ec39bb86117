import type { Logger } from 'pino';
import { createMqttResultsPublisher } from './create-mqtt-results-publisher.ts';
import type { ResultsMqttClientFactory } from './mqtt-results-client.ts';
import type { MqttResultsFlow } from './mqtt-results-sink-config.ts';
import type { EdgekeMetrics } from '../telemetry/metrics.ts';
import type { ResultSink } from './result-sink.ts';

export interface MqttResultSinkOptions {
  /** Counts every result not published as `edgeke_sink_dropped_points_total{sink="mqtt-results:<flow>", reason}`. */
  metrics?: Pick<EdgekeMetrics, 'recordSinkDropped'>;
  /** Default: mqtt.js; tests pass fakes. */
  clientFactory?: ResultsMqttClientFactory;
}

/**
 * The flow's MQTT results topic as a result sink. Results are for live consumers, not the record (InfluxDB is):
 * `write` hands the result to the publisher and returns, so a slow results broker never holds acknowledgements
 * back; the publisher bounds, counts (metrics) and logs what it cannot deliver.
 */
export function createMqttResultSink(config: MqttResultsFlow, classes: readonly string[], logger: Logger, options: MqttResultSinkOptions = {}): ResultSink {
  const publisher = createMqttResultsPublisher(config, { logger, classes, ...(options.clientFactory === undefined ? {} : { clientFactory: options.clientFactory }) });
  const { metrics } = options;
  if (metrics !== undefined) publisher.drops$.subscribe((drop) => metrics.recordSinkDropped(`mqtt-results:${config.name}`, drop.reason, 1));
  return {
    name: 'mqtt-results',
    write: async (result) => {
      void publisher.publish(result);
    },
    flush: async (timeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      while (publisher.pending > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      // Live results are not the record: what is still pending holds no acknowledgement back.
      return 0;
    },
    close: (timeoutMs) => publisher.close(timeoutMs),
  };
}

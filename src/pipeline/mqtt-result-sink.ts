import type { Logger } from 'pino';
import type { FlowConfig } from '../flows/schema.ts';
import { createMqttResultsPublisher } from '../sinks/create-mqtt-results-publisher.ts';
import type { ResultSink } from './result-sink.ts';

/**
 * The flow's MQTT results topic as a result sink. Results are for live consumers, not the record (InfluxDB is):
 * `write` hands the result to the publisher and returns, so a slow results broker never holds acknowledgements
 * back; the publisher bounds and counts what it cannot deliver.
 */
export function createMqttResultSink(config: FlowConfig, classes: readonly string[], logger: Logger): ResultSink {
  const publisher = createMqttResultsPublisher(config, { logger, classes });
  return {
    name: 'mqtt-results',
    write: async (result) => {
      void publisher.publish(result);
    },
    flush: async (timeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      while (publisher.pending > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      return publisher.pending;
    },
    close: (timeoutMs) => publisher.close(timeoutMs),
  };
}

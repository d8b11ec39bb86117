import type { FrameResult } from '../core/frame.ts';
import type { InfluxWriter } from './influx-writer.ts';
import type { ResultSink } from './result-sink.ts';

/**
 * The InfluxDB writer seen as a result sink. `write` resolves once the point is fsync'd to the flow's write-ahead
 * log. `flush` writes the log to InfluxDB for up to its timeout and counts only what is not durable: points left in
 * the log are acknowledged and safe, and are written on the next start.
 */
export function influxResultSink(writer: InfluxWriter): ResultSink {
  return {
    name: 'influx',
    write: (result: FrameResult) => writer.write(result),
    flush: async (timeoutMs) => (await writer.flush(timeoutMs)).notDurable,
    close: async (timeoutMs) => {
      await writer.close(timeoutMs);
    },
    get isAboveHighWater() {
      return writer.isAboveHighWater;
    },
    whenBelowHighWater: () => writer.whenBelowHighWater(),
  };
}

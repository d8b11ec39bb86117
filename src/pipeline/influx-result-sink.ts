import type { FrameResult } from '../core/frame.ts';
import type { InfluxWriter } from '../sinks/influx-writer.ts';
import type { ResultSink } from './result-sink.ts';

/** The InfluxDB writer seen as a result sink (write resolves once the point is buffered in memory or on disk). */
export function influxResultSink(writer: InfluxWriter): ResultSink {
  return {
    name: 'influx',
    write: (result: FrameResult) => writer.write(result),
    flush: async (timeoutMs) => (await writer.flush(timeoutMs)).remaining,
    close: async (timeoutMs) => {
      await writer.close(timeoutMs);
    },
    get isAboveHighWater() {
      return writer.isAboveHighWater;
    },
    whenBelowHighWater: () => writer.whenBelowHighWater(),
  };
}

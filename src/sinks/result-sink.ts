import type { FrameResult } from '../core/frame.ts';

/**
 * Where a flow's results go (InfluxDB, the MQTT results topic, a line-protocol file). `write` resolves once the
 * result is durable (InfluxDB: fsync'd to the flow's write-ahead log): only then may the frame's message be
 * acknowledged to its broker. A result held only in memory is not durable.
 */
export interface ResultSink {
  readonly name: string;
  write(result: FrameResult): Promise<void>;
  /** Delivers what is buffered; resolves with the number of results that are still not durable (not acknowledged). */
  flush(timeoutMs: number): Promise<number>;
  close(timeoutMs: number): Promise<void>;
  /** True while the sink's buffer is above its high-water mark: intake should wait. */
  readonly isAboveHighWater?: boolean;
  whenBelowHighWater?(): Promise<void>;
}

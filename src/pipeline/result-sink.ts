import type { FrameResult } from '../core/frame.ts';

/**
 * Where a flow's results go (InfluxDB, the MQTT results topic, a line-protocol file). `write` resolves once the
 * result is durably in the sink's buffer: only then may the frame's message be acknowledged to its broker.
 */
export interface ResultSink {
  readonly name: string;
  write(result: FrameResult): Promise<void>;
  /** Writes what is buffered; resolves with the number of results still not delivered. */
  flush(timeoutMs: number): Promise<number>;
  close(timeoutMs: number): Promise<void>;
  /** True while the sink's buffer is above its high-water mark: intake should wait. */
  readonly isAboveHighWater?: boolean;
  whenBelowHighWater?(): Promise<void>;
}

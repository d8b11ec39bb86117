import type { FrameResult } from '../../src/core/frame.ts';
import type { ResultSink } from '../../src/sinks/result-sink.ts';

/** A sink that keeps every result it is given, in order, and holds nothing back. */
export class MemorySink implements ResultSink {
  readonly name = 'memory';
  readonly results: FrameResult[] = [];
  async write(result: FrameResult): Promise<void> {
    this.results.push(result);
  }
  async flush(): Promise<number> {
    return 0;
  }
  async close(): Promise<void> {}
}

import type { ExitPolicy } from '../control/index.ts';
import type { Frame, FrameResult } from '../core/frame.ts';
import type { ExecutorFlow } from './model-executor.ts';

/**
 * What a flow's pipeline needs of the model that serves it: a ModelExecutor, or a ModelBinding that stands for
 * whichever executor serves the flow now (model swaps, src/pipeline/model-binding.ts).
 */
export interface FlowModel {
  /** The serving model's manifest name and version (content hash of its folder), for results it did not answer. */
  readonly modelName: string;
  readonly modelVersion: string;
  offered(now?: number): void;
  attach(flow: ExecutorFlow): () => void;
  onSpace(listener: () => void): () => void;
  backlogMs(now?: number): number;
  missesAt(policy: ExitPolicy, deadlineTs: number, startTs: number): boolean;
  submit(flow: ExecutorFlow, frame: Frame): void;
  /** Every frame's result, however it was settled (shed upstream too): the controller learns from the misses. */
  observeOutcome(result: FrameResult): void;
  queueDepth(flow?: string): number;
}

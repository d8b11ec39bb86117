import type { FrameResult } from '../core/frame.ts';

export interface UnansweredFrame {
  flow: string;
  id: string;
  captureTs: number;
  captureTsSource: FrameResult['captureTsSource'];
  receivedTs: number;
  label?: number;
  model: string;
  /** The serving model's version (content hash), when a model serves the flow. */
  modelVersion?: string;
  engine: string;
  deadlineMs: number;
  configVersion: number;
}

/**
 * The result of a frame the model did not answer (shed by admission, rejected by its decoder, failed in inference),
 * so it is counted and stored like any other. `leftQueueTs`: when it stopped waiting; `endTs`: when it was settled.
 */
export function unansweredResult(
  frame: UnansweredFrame,
  outcome: 'shed' | 'error',
  reason: string,
  leftQueueTs: number,
  endTs: number,
): FrameResult {
  return {
    flow: frame.flow,
    id: frame.id,
    captureTs: frame.captureTs,
    captureTsSource: frame.captureTsSource,
    model: frame.model,
    ...(frame.modelVersion === undefined ? {} : { modelVersion: frame.modelVersion }),
    engine: frame.engine,
    outcome,
    reason,
    ...(frame.label === undefined ? {} : { label: frame.label }),
    queueMs: Math.max(0, leftQueueTs - frame.receivedTs),
    inferMs: 0,
    e2eMs: endTs - frame.captureTs,
    deadlineMs: frame.deadlineMs,
    deadlineMet: false,
    configVersion: frame.configVersion,
  };
}

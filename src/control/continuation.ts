import type { PlannedFrame } from './planner-types.ts';
import { answersByVote, nextExitCostMs, passedAnyExit, passesConfidence } from './exit-policy.ts';
import type { LatencyModel } from './latency-estimator.ts';
import type { ModelView } from './model-view.ts';

/** Why a frame stopped where it did (telemetry and tests). */
export type StopReason =
  /** its confidence passed the calibrated threshold */
  | 'confident'
  /** it reached the exit the planner capped it at (to keep the frames behind it on time) */
  | 'cap'
  /** the next exit would finish after its deadline (the machine turned out slower than planned) */
  | 'deadline'
  /** the model has no further exit */
  | 'last-exit';

export type ExitDecision =
  | { action: 'continue' }
  | { action: 'stop'; reason: StopReason; answer: 'exit' | 'vote' };

/**
 * Decision after exit `exitIndex` of one frame: stop (and answer from this exit, or by weighted vote) or run on.
 * `runningBatchSize` is how many frames of the batch would run the next stages (the cost depends on it).
 * `passedEarlierExit`: whether the frame's confidence passed the threshold of an exit before this one. The vote
 * answers only frames that reach the last exit without any exit passing its threshold.
 */
export function decideAfterExit(
  model: ModelView,
  latency: LatencyModel,
  frame: Pick<PlannedFrame, 'policy' | 'deadlineTs' | 'capExit' | 'stopWhenConfident'>,
  exitIndex: number,
  confidence: number,
  nowMs: number,
  runningBatchSize: number,
  passedEarlierExit = false,
): ExitDecision {
  const { policy } = frame;
  const confident = passesConfidence(model, policy, exitIndex, confidence);
  if (exitIndex >= model.exits.length) {
    return {
      action: 'stop',
      reason: 'last-exit',
      answer: !confident && !passedEarlierExit && answersByVote(model, policy, exitIndex) ? 'vote' : 'exit',
    };
  }
  // A pinned exit is kept whatever happens: no confident stop, no stop for the deadline.
  const pinned = policy.mode === 'fixed';
  if (confident && frame.stopWhenConfident && !pinned) return { action: 'stop', reason: 'confident', answer: 'exit' };
  if (exitIndex >= frame.capExit) return { action: 'stop', reason: 'cap', answer: 'exit' };
  if (pinned) return { action: 'continue' };
  const nextFinish = nowMs + nextExitCostMs(model, latency, exitIndex, runningBatchSize, policy.riskQuantile);
  if (nextFinish > frame.deadlineTs) return { action: 'stop', reason: 'deadline', answer: 'exit' };
  return { action: 'continue' };
}

/**
 * How a frame the runner stopped at the last exit without asking (it was the batch's deepest cap) is answered: by
 * its own last exit or by the weighted vote. `confidences`: its confidence at every exit it ran, shallowest first.
 */
export function lastExitAnswer(
  model: ModelView,
  latency: LatencyModel,
  frame: Pick<PlannedFrame, 'policy' | 'deadlineTs' | 'capExit' | 'stopWhenConfident'>,
  confidences: readonly number[],
  nowMs: number,
): 'exit' | 'vote' {
  const passedEarlier = passedAnyExit(model, frame.policy, confidences.slice(0, -1));
  const decision = decideAfterExit(model, latency, frame, model.exits.length, confidences[confidences.length - 1] ?? 0, nowMs, 1, passedEarlier);
  return decision.action === 'stop' ? decision.answer : 'exit';
}

/** The runner's view of one batch's decisions. */
export interface BatchContinuation {
  /** The callback the runner calls after each exit of each frame still running. */
  decide: (frameIndex: number, exitIndex: number, confidence: number, nowMs: number) => 'stop' | 'continue';
  /** How a stopped frame is answered (after decide returned 'stop'); undefined while it runs. */
  stopOf: (frameIndex: number) => { exit: number; reason: StopReason; answer: 'exit' | 'vote' } | undefined;
}

/**
 * Binds decideAfterExit to a planned batch. It tracks which frames still run, so the cost of the next stages is
 * predicted for the batch that will really run them. A frame index outside the batch stops at once.
 */
export function createBatchContinuation(
  batch: readonly PlannedFrame[],
  model: ModelView,
  latency: LatencyModel,
): BatchContinuation {
  const stops = new Map<number, { exit: number; reason: StopReason; answer: 'exit' | 'vote' }>();
  const passedAnExit = new Uint8Array(batch.length);
  return {
    decide(frameIndex, exitIndex, confidence, nowMs) {
      const frame = batch[frameIndex];
      if (frame === undefined) return 'stop';
      const already = stops.get(frameIndex);
      if (already !== undefined) return 'stop';
      const running = Math.max(1, batch.length - stops.size);
      const passedEarlier = passedAnExit[frameIndex] === 1;
      if (passesConfidence(model, frame.policy, exitIndex, confidence)) passedAnExit[frameIndex] = 1;
      const decision = decideAfterExit(model, latency, frame, exitIndex, confidence, nowMs, running, passedEarlier);
      if (decision.action === 'continue') return 'continue';
      stops.set(frameIndex, { exit: exitIndex, reason: decision.reason, answer: decision.answer });
      return 'stop';
    },
    stopOf: (frameIndex) => stops.get(frameIndex),
  };
}

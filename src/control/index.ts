/** The load-aware exit controller: latency model, exit policies, admission and per-exit continuation. */
export { ControlError } from './control-error.ts';
export { LatencyEstimator, normalQuantile } from './latency-estimator.ts';
export type { LatencyEstimatorOptions, LatencyModel, RiskQuantile, StageEstimate, StageObservation } from './latency-estimator.ts';
export { exitAt, validateModelView, validatedStopLoss } from './model-view.ts';
export type { ConfidenceLevel, ExitView, ModelView, ValidatedStopLoss } from './model-view.ts';
export {
  answersByVote,
  chooseExit,
  deadlineTs,
  deepestExitWithin,
  exitCostMs,
  nextExitCostMs,
  passedAnyExit,
  passesConfidence,
  preferredExit,
} from './exit-policy.ts';
export type { ExitPolicy, SingleFrameChoice } from './exit-policy.ts';
export { ArrivalRateEstimator } from './arrival-rate.ts';
export { BatchOverheadEstimator } from './batch-overhead.ts';
export { ConfidencePassRateEstimator } from './confidence-pass-rates.ts';
export type { ConfidencePassRates } from './confidence-pass-rates.ts';
export { admitToQueue, planBatch } from './admission.ts';
export type { BatchPlan, PlannedFrame, PlannerOptions, PlannerState, QueuedFrame, ShedDecision, ShedReason } from './admission.ts';
export { createBatchContinuation, decideAfterExit, lastExitAnswer } from './continuation.ts';
export type { BatchContinuation, ExitDecision, StopReason } from './continuation.ts';

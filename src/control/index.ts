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
  lowestExit,
  pinnedExit,
  preferredExit,
} from './exit-policy.ts';
export type { ExitPolicy, SingleFrameChoice } from './exit-policy.ts';
export { ArrivalRateEstimator } from './arrival-rate.ts';
export { BatchOverheadEstimator } from './batch-overhead.ts';
export { ConfidencePassRateEstimator } from './confidence-pass-rates.ts';
export { PlanErrorEstimator } from './plan-error.ts';
export type { AnsweredFrame, ConfidencePassRates } from './confidence-pass-rates.ts';
export { admitToQueue, hasNoSlack, missesDeadline, onMiss } from './admission.ts';
export type { ShedDecision, ShedReason } from './admission.ts';
export { planBatch } from './plan-batch.ts';
export type { BatchPlan, PlannedFrame, PlannerOptions, PlannerState, QueuedFrame } from './planner-types.ts';
export { createBatchContinuation, decideAfterExit, lastExitAnswer } from './continuation.ts';
export type { BatchContinuation, ExitDecision, StopReason } from './continuation.ts';
export { ExitController } from './exit-controller.ts';
export type { BatchOutcome, ControlledBatch, ExitControllerOptions, PlanLimits } from './exit-controller.ts';

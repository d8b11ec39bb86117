import type { LatencyModel, RiskQuantile } from './latency-estimator.ts';
import { exitAt, type ModelView } from './model-view.ts';
import type { PolicyConfig } from './policy-config.ts';

/**
 * A flow's exit policy: the flow file's `policy` block as parsed (policy-config.ts describes each field), passed as
 * is. In fixed mode an `exit` past the last means the last (pinnedExit); `deadlineMs` binds in every mode.
 */
export type ExitPolicy = PolicyConfig;

/**
 * The exit a policy wants when load is no concern: the last exit in deadline mode; in accuracy mode the shallowest
 * exit whose validation accuracy meets the target (the last exit when none does: the best the model can do).
 */
export function preferredExit(model: ModelView, policy: ExitPolicy): number {
  const last = model.exits.length;
  if (policy.mode === 'fixed') return pinnedExit(model, policy);
  if (policy.mode === 'deadline') return last;
  const meeting = model.exits.find((exit) => exit.validationAccuracy >= policy.accuracyTarget);
  return meeting?.index ?? last;
}

/**
 * The exit a fixed-mode policy pins (the last when it names none or one past the last: `edgeke check` rejects such a
 * flow, the runtime must still never ask for an exit that does not exist).
 */
export function pinnedExit(model: ModelView, policy: ExitPolicy): number {
  const last = model.exits.length;
  return Math.max(1, Math.min(last, Math.floor(policy.exit ?? last)));
}

/**
 * The shallowest exit the planner may lower a frame of this policy to: exit 1, or the pinned exit in fixed mode (a
 * frame that misses even there is shed or answered late, at that exit).
 */
export function lowestExit(model: ModelView, policy: ExitPolicy): number {
  return policy.mode === 'fixed' ? pinnedExit(model, policy) : 1;
}

/** Predicted time from the model input to exit k's logits for a batch of `batchSize` frames. */
export function exitCostMs(
  model: ModelView,
  latency: LatencyModel,
  exitIndex: number,
  batchSize: number,
  risk: RiskQuantile,
): number {
  return latency.stagesMs(1, exitAt(model, exitIndex).stage, batchSize, risk);
}

/** Predicted time to go on from exit k to exit k+1 (only the stages in between: earlier stages are never rerun). */
export function nextExitCostMs(
  model: ModelView,
  latency: LatencyModel,
  exitIndex: number,
  batchSize: number,
  risk: RiskQuantile,
): number {
  const from = exitAt(model, exitIndex).stage + 1;
  const to = exitAt(model, exitIndex + 1).stage;
  return latency.stagesMs(from, to, batchSize, risk);
}

export function deadlineTs(captureTs: number, policy: ExitPolicy): number {
  return captureTs + policy.deadlineMs;
}

/**
 * Deepest exit ≤ upToExit whose predicted finish (startTs + cost at the risk quantile) is within the deadline; 0 when
 * not even exit 1 fits. Slack = deadline − (now − captureTs) is the same test, written as absolute times.
 */
export function deepestExitWithin(
  model: ModelView,
  latency: LatencyModel,
  query: { startTs: number; deadlineTs: number; batchSize: number; risk: RiskQuantile; upToExit: number },
): number {
  let best = 0;
  for (let exit = 1; exit <= Math.min(query.upToExit, model.exits.length); exit++) {
    const finish = query.startTs + exitCostMs(model, latency, exit, query.batchSize, query.risk);
    if (finish > query.deadlineTs) break;
    best = exit;
  }
  return best;
}

/** Whether a confidence at exit k passes that exit's calibrated threshold at the policy's level. */
export function passesConfidence(model: ModelView, policy: ExitPolicy, exitIndex: number, confidence: number): boolean {
  if (policy.confidenceStop === 'none') return false;
  const threshold = exitAt(model, exitIndex).thresholds[policy.confidenceStop];
  return threshold !== null && threshold !== undefined && confidence >= threshold;
}

/** Whether any of a frame's confidences at exits 1..n (in order) passed its exit's threshold. */
export function passedAnyExit(model: ModelView, policy: ExitPolicy, confidences: readonly number[]): boolean {
  return confidences.some((confidence, k) => passesConfidence(model, policy, k + 1, confidence));
}

/**
 * Whether a frame that stopped at `exitIndex` without passing a threshold is answered by the weighted vote: only at
 * the last exit, only when the flow allows it and the manifest says the vote beat the last exit on validation data:
 * on the frames that pass no threshold at the flow's level where that was measured (the only frames it answers; on
 * fashion-mnist at 0.95 it loses there, though it wins over all frames), else over all frames.
 */
export function answersByVote(model: ModelView, policy: ExitPolicy, exitIndex: number): boolean {
  if (!policy.vote || exitIndex !== model.exits.length) return false;
  const atLevel = policy.confidenceStop === 'none' ? undefined : model.vote?.byLevel?.[policy.confidenceStop];
  return (atLevel?.beatsLastExit ?? model.vote?.beatsLastExit) === true;
}

export type SingleFrameChoice =
  | { kind: 'run'; capExit: number; predictedFinishTs: number }
  | { kind: 'late'; capExit: number; predictedFinishTs: number }
  | { kind: 'shed'; reason: 'no-slack' };

/**
 * Exit choice for one frame that starts at `startTs` with nothing ahead of it (the queue-aware version is
 * planBatch in plan-batch.ts): the preferred exit, lowered to the deepest one that fits the slack (never below
 * lowestExit), else the late policy.
 */
export function chooseExit(
  model: ModelView,
  latency: LatencyModel,
  policy: ExitPolicy,
  frame: { captureTs: number },
  startTs: number,
  batchSize = 1,
): SingleFrameChoice {
  const due = deadlineTs(frame.captureTs, policy);
  const risk = policy.riskQuantile;
  const capExit = deepestExitWithin(model, latency, {
    startTs,
    deadlineTs: due,
    batchSize,
    risk,
    upToExit: preferredExit(model, policy),
  });
  const lowest = lowestExit(model, policy);
  if (capExit >= lowest) {
    return { kind: 'run', capExit, predictedFinishTs: startTs + exitCostMs(model, latency, capExit, batchSize, risk) };
  }
  if (policy.latePolicy === 'answer-late') {
    return { kind: 'late', capExit: lowest, predictedFinishTs: startTs + exitCostMs(model, latency, lowest, batchSize, risk) };
  }
  return { kind: 'shed', reason: 'no-slack' };
}

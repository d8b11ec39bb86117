import { answersByVote, type ExitPolicy } from './exit-policy.ts';
import type { ConfidenceLevel, ModelView, ValidatedStopLoss } from './model-view.ts';

/** How deep one frame may run: its cap, and whether (at which level) a confident exit before it stops it. */
export interface ExitChoice {
  capExit: number;
  stop: ConfidenceLevel | undefined;
  /** Expected work per frame (ms), stops included. */
  workMs: number;
  /** Expected accuracy, see expectedAccuracy and lossPerStop. */
  accuracy: number;
}

/** What the ladder needs to know of a choice: its expected work, and the accuracy its stops are expected to cost. */
export interface ChoiceCosts {
  workMs(capExit: number, stop: ConfidenceLevel | undefined): number;
  /** Expected accuracy lost by stopping frames at confident exits before capExit (0 without a stop). */
  stopLoss(capExit: number, stop: ConfidenceLevel | undefined): number;
}

/**
 * What one frame stopped at a confident exit costs in accuracy.
 *
 * Measured on the validation split (`validated`, from the manifest): its loss, scaled by how often such frames
 * disagree with their deeper answer now (`disagreement`, learnt online without labels) against how often they did
 * there. A stopped frame can only lose where the two answers differ, so when the input drifts and they differ twice
 * as often, the loss is taken to double too. Never above the disagreement itself, never below 0.
 *
 * Without a validated figure, a bound: 1 − level (thresholds are calibrated so that frames passing them are right at
 * least `level` of the time, and at best the cap would have got them right), or the disagreement where lower. The
 * bound is loose where the deeper exit is often wrong too (fashion-mnist: 3.7% disagreement, 1.8% loss).
 */
export function lossPerStop(level: ConfidenceLevel, disagreement: number, validated?: Pick<ValidatedStopLoss, 'loss' | 'disagreement'>): number {
  const calibrated = 1 - Number(level);
  const learnt = Number.isFinite(disagreement) ? Math.max(0, disagreement) : undefined;
  if (validated !== undefined) {
    const measured = Math.max(0, validated.loss);
    if (learnt === undefined) return measured;
    // A disagreement never seen on validation data: nothing to scale, so the bound.
    if (!(validated.disagreement > 0)) return learnt > 0 ? Math.min(calibrated, learnt) : 0;
    return Math.min(learnt, (measured * learnt) / validated.disagreement);
  }
  return learnt === undefined ? calibrated : Math.min(calibrated, learnt);
}

/** Expected accuracy of frames run to capExit (the vote's where it answers there), less what stops cost them. */
export function expectedAccuracy(model: ModelView, policy: ExitPolicy, capExit: number, stopLoss: number): number {
  const exit = model.exits[capExit - 1];
  const atCap = answersByVote(model, policy, capExit)
    ? Math.max(model.vote?.validationAccuracy ?? 0, exit?.validationAccuracy ?? 0)
    : (exit?.validationAccuracy ?? 0);
  return atCap - stopLoss;
}

/**
 * The choices worth making for a frame of this policy on a busy machine, least work first: from exit 1 up to the
 * preferred exit, with and without the policy's confidence stop ('busy' policies may take either; 'always' ones always
 * stop; 'none' never); in fixed mode the pinned exit alone. Only the upper concave hull of accuracy over work is kept, so each step up buys accuracy at a
 * lower rate than the one before: raising every frame one step before any frame two is then the best use of the time.
 */
export function choiceLadder(model: ModelView, policy: ExitPolicy, preferredExit: number, costs: ChoiceCosts): ExitChoice[] {
  // A pinned exit is the only choice: no lower cap, no stop.
  if (policy.mode === 'fixed') {
    return [{ capExit: preferredExit, stop: undefined, workMs: costs.workMs(preferredExit, undefined), accuracy: expectedAccuracy(model, policy, preferredExit, 0) }];
  }
  const level = policy.confidenceStop === 'none' ? undefined : policy.confidenceStop;
  const stopOptions: (ConfidenceLevel | undefined)[] =
    level === undefined ? [undefined] : policy.confidenceStopWhen === 'always' ? [level] : [undefined, level];
  const choices: ExitChoice[] = [];
  for (let capExit = 1; capExit <= preferredExit; capExit++) {
    for (const stop of stopOptions) {
      // At exit 1 a stop changes nothing (the frame ends there either way): one choice, stopping only if it must.
      if (capExit === 1 && stop !== stopOptions[0]) continue;
      choices.push({
        capExit,
        stop,
        workMs: costs.workMs(capExit, stop),
        accuracy: expectedAccuracy(model, policy, capExit, stop === undefined ? 0 : costs.stopLoss(capExit, stop)),
      });
    }
  }
  // Least work first; on equal work the more accurate, then the one without a stop (same estimate: no need to stop).
  choices.sort((a, b) => a.workMs - b.workMs || b.accuracy - a.accuracy || Number(a.stop !== undefined) - Number(b.stop !== undefined));
  const hull: ExitChoice[] = [];
  for (const choice of choices) {
    const top = hull[hull.length - 1];
    if (top !== undefined && choice.accuracy <= top.accuracy) continue; // more work, no more accuracy
    // Drop the last step while it buys accuracy more cheaply than the step that would follow it (not concave).
    while (hull.length >= 2) {
      const a = hull[hull.length - 2] as ExitChoice;
      const b = hull[hull.length - 1] as ExitChoice;
      const cross = (b.workMs - a.workMs) * (choice.accuracy - a.accuracy) - (b.accuracy - a.accuracy) * (choice.workMs - a.workMs);
      if (cross < 0) break;
      hull.pop();
    }
    hull.push(choice);
  }
  return hull;
}

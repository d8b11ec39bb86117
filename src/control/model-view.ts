import { ControlError } from './control-error.ts';

/** Confidence levels the manifest calibrates thresholds for. */
export const CONFIDENCE_LEVELS = ['0.90', '0.95', '0.99'] as const;
export type ConfidenceLevel = (typeof CONFIDENCE_LEVELS)[number];

/** What the controller reads of one manifest exit (docs/model-format.md); a parsed manifest exit fits as is. */
export interface ExitView {
  /** 1-based exit index. */
  index: number;
  /** 1-based stage whose output carries this exit's logits. */
  stage: number;
  /** Accuracy on the validation split: the only accuracy the controller plans with (test accuracy is for reports). */
  validationAccuracy: number;
  /** Lowest max-softmax confidence at which frames exiting here are at least that accurate; null when none is. */
  thresholds: Partial<Record<ConfidenceLevel, number | null>>;
}

/**
 * What stopping frames at their first confident exit cost on the validation split, against running them on to
 * laterExit: the accuracy lost (negative where stopping helped) and how often the two answers differed.
 */
export interface ValidatedStopLoss {
  exit: number;
  level: ConfidenceLevel;
  laterExit: number;
  loss: number;
  disagreement: number;
}

export interface ModelView {
  exits: readonly ExitView[];
  /**
   * EdgeKE weighted vote of all exits; absent when the model ships no vote weights. beatsLastExit: over all
   * validation frames; byLevel: over those that pass no exit's threshold at a level, where measured.
   */
  vote?: { beatsLastExit: boolean; validationAccuracy: number; byLevel?: Partial<Record<ConfidenceLevel, { beatsLastExit: boolean }>> } | null;
  /** Absent for models calibrated before it was measured: the planner then uses its label-free bound alone. */
  stopLoss?: readonly ValidatedStopLoss[];
}

/**
 * Checks what the planner relies on: exits numbered 1..E in order, on strictly increasing stages that the latency
 * model knows. Call once per flow start / reload; the rest of src/control assumes it holds.
 */
export function validateModelView(model: ModelView, stageCount: number): void {
  if (model.exits.length === 0) throw new ControlError('EDGEKE_CONTROL_MODEL', 'model has no exits');
  let previousStage = 0;
  model.exits.forEach((exit, i) => {
    if (exit.index !== i + 1) {
      throw new ControlError('EDGEKE_CONTROL_MODEL', `exit at position ${i + 1} has index ${exit.index}; expected ${i + 1}`);
    }
    if (!Number.isInteger(exit.stage) || exit.stage <= previousStage || exit.stage > stageCount) {
      throw new ControlError(
        'EDGEKE_CONTROL_MODEL',
        `exit ${exit.index} is on stage ${exit.stage}; expected a stage after ${previousStage} and at most ${stageCount}`,
      );
    }
    previousStage = exit.stage;
  });
}

export function exitAt(model: ModelView, exitIndex: number): ExitView {
  const exit = model.exits[exitIndex - 1];
  if (exit === undefined) {
    throw new ControlError('EDGEKE_CONTROL_MODEL', `exit ${exitIndex} does not exist (1..${model.exits.length})`);
  }
  return exit;
}

/** The validated cost of stopping at `exitIndex` at `level` instead of running on to `laterExit`, if measured. */
export function validatedStopLoss(model: ModelView, exitIndex: number, level: ConfidenceLevel, laterExit: number): ValidatedStopLoss | undefined {
  return model.stopLoss?.find((entry) => entry.exit === exitIndex && entry.level === level && entry.laterExit === laterExit);
}

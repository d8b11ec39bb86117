import type { ExitChoice } from './choice-ladder.ts';
import type { ExitPolicy } from './exit-policy.ts';
import type { ConfidenceLevel } from './model-view.ts';
import type { QueuedFrame } from './planner-types.ts';

/** One frame as the planner works on it: where it stands on its ladder, and what it is expected to be worth. */
export interface Slot {
  frame: QueuedFrame;
  due: number;
  preferred: number;
  cap: number;
  late: boolean;
  stopWhenConfident: boolean;
  /** Expected accuracy at its cap and stop (choice-ladder.ts); what candidate plans are compared on. */
  accuracy: number;
  /** The choices a busy plan raises it through, and where on them it stands (planned frames only). */
  ladder: readonly ExitChoice[];
  step: number;
  /**
   * planned: its exit is chosen now. reserved: a queued frame beyond the horizon or an expected arrival, held at
   * exit 1; raising a planned frame must not make it miss.
   */
  kind: 'planned' | 'reserved';
  /** Earliest time it can run (expected arrivals only). */
  readyTs: number;
}

/** The confidence level a slot stops at, if it stops when confident. */
export function stopLevel(slot: Slot): ConfidenceLevel | undefined {
  return slot.stopWhenConfident && slot.frame.policy.confidenceStop !== 'none' ? slot.frame.policy.confidenceStop : undefined;
}

/** Whether a frame of this policy stops at a confident exit on an idle machine (a busy plan follows its ladder). */
export function stopsWhenIdle(policy: ExitPolicy): boolean {
  return policy.mode !== 'fixed' && policy.confidenceStop !== 'none' && policy.confidenceStopWhen === 'always';
}

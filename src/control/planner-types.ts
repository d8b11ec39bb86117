import type { ShedDecision } from './admission.ts';
import type { ConfidencePassRates } from './confidence-pass-rates.ts';
import type { ExitPolicy } from './exit-policy.ts';

/** A frame waiting for inference; frames of several flows (policies) may share one model's queue. */
export interface QueuedFrame {
  id: string;
  captureTs: number;
  policy: ExitPolicy;
}

/** PlannerOptions.targetUtilization when none is given. */
export const DEFAULT_TARGET_UTILIZATION = 0.9;

export interface PlannerOptions {
  maxBatch: number;
  queueCapacity: number;
  /** Batch sizes the planner compares; default 1, 2, 4, … and maxBatch. */
  batchSizes?: readonly number[];
  /**
   * How many frames (in deadline order) get exits planned; the rest of the queue is counted at exit 1 (their claim
   * on the time ahead) and planned later. Default 2 × maxBatch (planning time grows with its square).
   */
  horizon?: number;
  /**
   * When a frame's answer leaves: as soon as it stops at its exit ('exit'), or only when its whole batch is done
   * ('batch-end', the safe assumption when the runner emits a batch at once).
   */
  resultsAt?: 'exit' | 'batch-end';
  /**
   * Fixed time per batch outside the stages the latency model knows (packing inputs, softmax, callbacks, planning),
   * as the caller measures it (batch wall time − stage times). Default 0.
   */
  batchOverheadMs?: number;
  /**
   * Part of every deadline kept in reserve when choosing exits: how much later than predicted batches end
   * (PlanErrorEstimator), beyond what the latency model's risk quantile covers. Shedding ignores it (a frame is
   * dropped only when it cannot make its deadline at all). Default 0.
   */
  finishMarginMs?: number;
  /**
   * Exits are raised only while arrival rate × mean per-frame cost stays at or below this: deadlines bound a few
   * hundred milliseconds ahead, this keeps the queue from creeping up over minutes, and leaves room for bursts of
   * random arrivals (a backlog also cuts the budget, see planBatch). Default 0.9: at 0.8 the planner left capacity
   * idle that confidence-only used for more accuracy at the same attainment (cwru-bearing and fashion-mnist at 2x).
   * The ExitController scales the part left for inference by what the realized misses show (miss-feedback.ts).
   */
  targetUtilization?: number;
  /**
   * Frames of this model's flows received and not yet decoded (they wait upstream for the decoder). They are queued
   * work the planner cannot see yet: they count towards the backlog the work budget must drain. Default 0.
   */
  waitingUpstream?: number;
  /**
   * Share of the inference core taken at the current load by work outside this model's inference (receiving,
   * decoding, sinks, other models), 0..1 (OtherWorkShareMeter). The work budget is what is left of
   * targetUtilization. Default 0.
   */
  otherWorkShare?: number;
}

export interface PlannedFrame {
  id: string;
  captureTs: number;
  policy: ExitPolicy;
  deadlineTs: number;
  /** Deepest exit the frame may run to; confidence may stop it earlier, the live deadline check too. */
  capExit: number;
  /**
   * Whether a confident exit stops it: per its policy's confidenceStop; with confidenceStopWhen 'busy' only on a busy
   * plan, where a stop buys more expected accuracy per millisecond than a shallower cap (choice-ladder.ts).
   */
  stopWhenConfident: boolean;
  /**
   * Cannot make its deadline even at its lowest exit and its flow answers late: runs that exit only (exit 1, or the
   * pinned exit in fixed mode), outcome `late`.
   */
  late: boolean;
  /**
   * Predicted to miss, run anyway at exit 1 because nothing else would run (see probeWhenIdle); its outcome depends
   * on when it really ends.
   */
  probe: boolean;
  predictedFinishTs: number;
}

export interface BatchPlan {
  /** When the batch is predicted to start: max(now, busyUntilTs). */
  startTs: number;
  /** The frames to run now; a frame's position is its frameIndex for the continuation callback. */
  batch: PlannedFrame[];
  /** Frames to answer now with outcome `shed`. */
  shed: ShedDecision[];
  /** Frames that stay queued, earliest deadline first. */
  waiting: QueuedFrame[];
  predictedBatchEndTs: number;
  /**
   * The batch planned to run after this one, as planned now (its frames are the first of `waiting`), predicted to
   * start at predictedBatchEndTs and end at its own predictedBatchEndTs. Under a backlog the controller may run it
   * as planned instead of planning again (ExitController). Absent when nothing waits.
   */
  next?: { batch: PlannedFrame[]; predictedBatchEndTs: number };
}

/** What the planner knows of the moment: the time, when the runtime is free, how fast frames are arriving. */
export interface PlannerState {
  now: number;
  /** When the runtime finishes the batch it runs (≤ now when idle). */
  busyUntilTs?: number;
  /**
   * Recent arrival rate (frames/ms, e.g. from ArrivalRateEstimator). Frames expected to arrive while the queue drains
   * are reserved room at exit 1, so under sustained load the head of the queue does not take the time the next
   * arrivals need (which would overflow the queue later). 0 or absent: plan for the queue alone.
   */
  arrivalRatePerMs?: number;
  /**
   * Frames queued behind `queue` and not given to the planner, every one due no earlier than any in it (the caller
   * keeps a long queue's tail to itself; ExitController does). They count toward the backlog; judging and planning
   * them is the next plans' business. Default 0.
   */
  queuedBehind?: number;
  /**
   * Long-run arrival rate (frames/ms, ArrivalRateEstimator.sustainedRatePerMs) that sets the work budget: the mean
   * work per frame the machine can afford. A budget set by the recent rate follows every Poisson cluster and would
   * lower frames at half load. Absent: arrivalRatePerMs.
   */
  sustainedArrivalRatePerMs?: number;
  /**
   * Learned share of frames each exit's confidence stop takes off the later stages (ConfidencePassRateEstimator).
   * With it, a frame allowed to stop when confident is planned at its expected work, not at its cap's. Absent: no
   * frame is expected to stop early.
   */
  confidence?: ConfidencePassRates;
}

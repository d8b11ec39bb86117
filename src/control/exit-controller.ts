import { admitToQueue, type ShedReason } from './admission.ts';
import { ArrivalRateEstimator } from './arrival-rate.ts';
import { BatchOverheadEstimator } from './batch-overhead.ts';
import { ConfidencePassRateEstimator, type AnsweredFrame } from './confidence-pass-rates.ts';
import { createBatchContinuation, lastExitAnswer } from './continuation.ts';
import type { LatencyEstimator, StageObservation } from './latency-estimator.ts';
import type { ModelView } from './model-view.ts';
import { planBatch } from './plan-batch.ts';
import { MissFeedback } from './miss-feedback.ts';
import { PlanErrorEstimator } from './plan-error.ts';
import { DEFAULT_TARGET_UTILIZATION, type BatchPlan, type PlannedFrame, type PlannerOptions, type QueuedFrame } from './planner-types.ts';

export interface ExitControllerOptions {
  model: ModelView;
  /** The model's latency model (one per model and process; it learns from every executed stage). */
  latency: LatencyEstimator;
  /**
   * What confidence stops save and cost, when it should outlive this controller (the policies bench keeps one per
   * policy for a model's whole run, as a service's executor keeps its own for the model's lifetime). Default: new.
   */
  passRates?: ConfidencePassRateEstimator;
  /** Batch time outside the stages to start from, until batches are seen (ms). Default 0. */
  batchOverheadMs?: number;
  /**
   * false: plan for the queue alone, with no arrival-rate estimate (no room reserved for expected arrivals, no work
   * budget). Default true.
   */
  measuresArrivals?: boolean;
}

/** The limits a plan works within; the caller's (flow settings), not learnt. */
export type PlanLimits = Pick<
  PlannerOptions,
  'maxBatch' | 'queueCapacity' | 'batchSizes' | 'horizon' | 'resultsAt' | 'targetUtilization' | 'waitingUpstream' | 'otherWorkShare'
>;

/** A planned batch, bound to the controller that answers the runner's per-exit questions for it. */
export interface ControlledBatch extends BatchPlan {
  /** The runner's callback after each exit of each frame still running (MultiExitRunner `decide`). */
  decide: (frameIndex: number, exitIndex: number, confidence: number, nowMs: number) => 'stop' | 'continue';
  /** No frame runs past this exit (the runner's `lastExit`): the deepest cap in the batch. */
  lastExit: number;
  /** Whether any frame's flow may be answered by the weighted vote (the runner's `vote`). */
  vote: boolean;
  /**
   * How frame i is answered once it ran: from the exit it stopped at, or by the weighted vote (a frame the runner
   * stopped at the last exit without asking is judged there, at `nowMs`).
   */
  answerBy: (frameIndex: number, answer: { exit: number; exits: readonly { confidence: number }[] }, nowMs: number) => 'exit' | 'vote';
}

/** A long queue's head given to the planner, in multiples of its horizon (2 x maxBatch). */
const HEAD_HORIZONS = 4;

/** Whether the queue is in deadline order (ties in any order: the planner orders its head itself). */
function inDeadlineOrder(queue: readonly QueuedFrame[]): boolean {
  let previous = -Infinity;
  for (const frame of queue) {
    const due = frame.captureTs + frame.policy.deadlineMs;
    if (due < previous) return false;
    previous = due;
  }
  return true;
}

/** The second batch of the last plan, and when it was planned to start. */
type PendingBatch = NonNullable<BatchPlan['next']> & { startTs: number };

/** What running a planned batch showed. */
export interface BatchOutcome {
  /** Each frame's answers at the exits it ran, shallowest first; absent when the batch failed. */
  answers?: readonly (AnsweredFrame | undefined)[];
  /** When the runner started the batch and when it returned. */
  startTs: number;
  endTs: number;
  /** The sum of the stage timings the runner reported. */
  stagesMs: number;
  /** When the runtime was free for the next batch, what the plan predicted (default endTs). */
  freeTs?: number;
}

/**
 * The load-aware exit controller of one model's queue: it owns the online estimators (stage latency, arrival
 * rate, confidence pass rates, batch overhead, plan error, miss feedback) and the two calls around each batch: `plan` (who runs now,
 * how deep, who is shed and why; with the per-exit callback for the runner) and `observe` (what the batch showed).
 * Arrivals go through `admit`, stage timings through `observeStage`. The executor, the policies bench and the
 * virtual-time tests all drive it the same way; nothing here reads a clock.
 */
export class ExitController {
  readonly model: ModelView;
  readonly latency: LatencyEstimator;
  readonly passRates: ConfidencePassRateEstimator;
  private readonly arrivals: ArrivalRateEstimator | undefined;
  private readonly batchOverhead: BatchOverheadEstimator;
  private readonly planError = new PlanErrorEstimator();
  private readonly missFeedback = new MissFeedback();
  /** The batch the last full plan put second, while it may still run as planned (see plan). */
  private pending: PendingBatch | undefined;

  constructor(options: ExitControllerOptions) {
    this.model = options.model;
    this.latency = options.latency;
    this.passRates = options.passRates ?? new ConfidencePassRateEstimator(options.model);
    this.batchOverhead = new BatchOverheadEstimator(options.batchOverheadMs ?? 0);
    this.arrivals = options.measuresArrivals === false ? undefined : new ArrivalRateEstimator();
  }

  /**
   * A frame arrived (every frame offered counts toward the arrival rate, refused or not): `queue-full` when its queue
   * (`queued` frames of `capacity`) has no room, else null and the caller queues it.
   */
  admit(arrivalTs: number, queued: number, capacity: number): ShedReason | null {
    this.arrivals?.observe(arrivalTs);
    return admitToQueue(queued, { queueCapacity: capacity });
  }

  /**
   * A frame was offered (received by a flow, before it is decoded or admitted): the arrival rate counts every frame
   * the load brings, also those shed before they reach the queue. Callers that use this do not also call admit.
   */
  offered(arrivalTs: number): void {
    this.arrivals?.observe(arrivalTs);
  }

  /** Frames offered per ms as the work budget reads them (sustained, a step up taken at once); 0 without arrivals. */
  arrivalRatePerMs(now: number): number {
    return this.arrivals?.sustainedRatePerMs(now) ?? 0;
  }

  /** Batch time outside the stages, as learnt (ms). */
  get batchOverheadMs(): number {
    return this.batchOverhead.ms;
  }

  /**
   * A frame's outcome, once known: answered within its deadline, or missed it (answered late, or shed for want of
   * time). Frames refused for what they are (bad input) are not outcomes of the plan and are not reported.
   */
  observeOutcome(onTime: boolean, nowTs: number): void {
    this.missFeedback.observeOutcome(onTime, nowTs);
  }

  /** The scale the realized misses put on the inference budget as of the last plan (miss-feedback.ts), 0.3..1. */
  get budgetScale(): number {
    return this.missFeedback.value;
  }

  /** One executed stage (the runner's onStageTiming). */
  observeStage(timing: StageObservation): void {
    this.latency.observe(timing);
  }

  /**
   * Plans the next batch from the queue at `now` (the runtime free at busyUntilTs, default now).
   *
   * Under a backlog (two full batches or more queued) every other batch is the one the previous plan put second, run
   * as planned, when it still holds: all its frames still queued, none more urgent arrived since, and each still ends
   * in time after however late its start is. A plan costs more than a batch of a small model (cwru-bearing: a plan
   * of a long queue took ~0.5-1 ms, a batch of 16 at exit 1 ~0.3 ms), so planning before every batch halved what a
   * backlog drained at, and the queue grew faster than it drained under the very overload it had to absorb.
   */
  plan(queue: readonly QueuedFrame[], now: number, limits: PlanLimits, busyUntilTs?: number): ControlledBatch {
    const pending = this.pending;
    this.pending = undefined;
    const reused = pending === undefined ? undefined : this.asPlanned(pending, queue, Math.max(now, busyUntilTs ?? now), limits);
    const plan = reused ?? this.planAfresh(queue, now, limits, busyUntilTs);
    if (reused === undefined && plan.next !== undefined) this.pending = { ...plan.next, startTs: plan.predictedBatchEndTs };
    return this.bind(plan);
  }

  private planAfresh(queue: readonly QueuedFrame[], now: number, limits: PlanLimits, busyUntilTs: number | undefined): BatchPlan {
    // A long queue in deadline order (one flow's always is): the planner gets its head, the tail is only counted. Its
    // frames are due after every frame of the head, so none of them is more urgent, and none is hopeless unless the
    // whole head is (then the next plans reach it). Judging thousands of frames before every batch cost more than the
    // batch on cwru-bearing at a 400 ms deadline.
    const window = HEAD_HORIZONS * 2 * limits.maxBatch;
    const split = queue.length > 2 * window && queue.length <= limits.queueCapacity && inDeadlineOrder(queue);
    const head = split ? queue.slice(0, window) : queue;
    // The inference budget (the target less other work), scaled by what the realized misses showed.
    const other = limits.otherWorkShare ?? 0;
    const target = limits.targetUtilization ?? DEFAULT_TARGET_UTILIZATION;
    const targetUtilization = target > other ? other + (target - other) * this.missFeedback.scale(now, other) : target;
    const plan = planBatch(
      head,
      this.model,
      this.latency,
      {
        now,
        ...(busyUntilTs === undefined ? {} : { busyUntilTs }),
        arrivalRatePerMs: this.arrivals?.ratePerMs(now) ?? 0,
        sustainedArrivalRatePerMs: this.arrivals?.sustainedRatePerMs(now) ?? 0,
        confidence: this.passRates,
        ...(split ? { queuedBehind: queue.length - window } : {}),
      },
      { ...limits, targetUtilization, batchOverheadMs: this.batchOverhead.ms, finishMarginMs: this.planError.marginMs },
    );
    return split ? { ...plan, waiting: plan.waiting.concat(queue.slice(window)) } : plan;
  }

  /** The pending batch as this moment's plan, or undefined when it no longer holds (see plan). */
  private asPlanned(pending: PendingBatch, queue: readonly QueuedFrame[], startTs: number, limits: PlanLimits): BatchPlan | undefined {
    if (queue.length < 2 * limits.maxBatch) return undefined;
    const delayMs = Math.max(0, startTs - pending.startTs);
    const marginMs = this.planError.marginMs;
    let latestDue = -Infinity;
    // Its frames head the queue, in order (the last plan's waiting list starts with them; arrivals join at the end).
    for (let i = 0; i < pending.batch.length; i++) {
      const frame = pending.batch[i] as PlannedFrame;
      if (queue[i]?.id !== frame.id) return undefined;
      if (!frame.late && frame.predictedFinishTs + delayMs + marginMs > frame.deadlineTs) return undefined;
      latestDue = Math.max(latestDue, frame.deadlineTs);
    }
    // Due before one of the planned frames: it arrived since, and may need this batch's place.
    for (let i = pending.batch.length; i < queue.length; i++) {
      const frame = queue[i] as QueuedFrame;
      if (frame.captureTs + frame.policy.deadlineMs < latestDue) return undefined;
    }
    return {
      startTs,
      batch: pending.batch.map((frame) => ({ ...frame, predictedFinishTs: frame.predictedFinishTs + delayMs })),
      shed: [],
      waiting: queue.slice(pending.batch.length),
      predictedBatchEndTs: pending.predictedBatchEndTs + delayMs,
    };
  }

  private bind(plan: BatchPlan): ControlledBatch {
    const continuation = createBatchContinuation(plan.batch, this.model, this.latency);
    const last = this.model.exits.length;
    return {
      ...plan,
      decide: continuation.decide,
      lastExit: Math.max(1, ...plan.batch.map((frame) => frame.capExit)),
      vote: plan.batch.some((frame) => frame.policy.vote),
      answerBy: (frameIndex, answer, nowMs) => {
        const stop = continuation.stopOf(frameIndex);
        if (stop !== undefined) return stop.answer;
        const frame = plan.batch[frameIndex];
        if (frame === undefined || answer.exit !== last) return 'exit';
        return lastExitAnswer(this.model, this.latency, frame, answer.exits.map((exit) => exit.confidence), nowMs);
      },
    };
  }

  /**
   * What a run batch showed: each frame's confidences and answers exit by exit teach how many frames a confidence
   * stop takes off and how often a stopped answer would have differed; the wall time outside the stages is the batch
   * overhead; how much later than planned the runtime was free is the plan error.
   */
  observe(batch: Pick<BatchPlan, 'predictedBatchEndTs'>, outcome: BatchOutcome): void {
    this.missFeedback.observeInference(outcome.endTs - outcome.startTs);
    if (outcome.answers !== undefined) {
      this.passRates.observeAnswers(outcome.answers);
      this.batchOverhead.observe(outcome.endTs - outcome.startTs, outcome.stagesMs);
    }
    this.planError.observe(batch.predictedBatchEndTs, outcome.freeTs ?? outcome.endTs);
  }
}

/**
 * The shed rules, in one place: who is refused at arrival, and who cannot make their deadline whatever the planner
 * does. The planner (plan-batch.ts), the executor (through ExitController) and the policies bench's baselines all
 * shed by these.
 */
import { exitCostMs, lowestExit, type ExitPolicy } from './exit-policy.ts';
import type { LatencyModel } from './latency-estimator.ts';
import type { ModelView } from './model-view.ts';

/**
 * Why admission dropped a frame (FrameResult.reason); "miss" is judged at the median latency, so only the hopeless
 * are dropped:
 * - `no-slack`: even alone, at exit 1 (its pinned exit in fixed mode), starting now, it would miss its deadline;
 * - `overload`: it could make it alone, but not behind the frames with earlier deadlines, even with every frame at
 *   its lowest exit;
 * - `queue-full`: the queue holds queueCapacity frames already.
 */
export type ShedReason = 'no-slack' | 'overload' | 'queue-full';

export interface ShedDecision {
  id: string;
  reason: ShedReason;
}

/** Admission at arrival: a frame that finds its queue full is shed at once (the planner also enforces capacity). */
export function admitToQueue(queueLength: number, options: { queueCapacity: number }): ShedReason | null {
  return queueLength >= options.queueCapacity ? 'queue-full' : null;
}

/**
 * Whether a frame cannot make its deadline even alone, at its lowest exit (exit 1; the pinned one in fixed mode),
 * starting at `startTs`: `no-slack`. Judged at the median latency: shedding is for the hopeless (a frame that
 * probably makes it runs, even when it might not); the risk quantile is for choosing depth.
 */
export function hasNoSlack(
  model: ModelView,
  latency: LatencyModel,
  frame: { policy: ExitPolicy; deadlineTs: number },
  startTs: number,
  batchOverheadMs = 0,
): boolean {
  // Asked for every arriving frame (and again while it waits): priced directly, without noSlackJudge's cache.
  return missesDeadline(aloneAtLowestFinish(model, latency, frame.policy, startTs, batchOverheadMs), frame.deadlineTs);
}

/** When a frame of `policy` starting at `startTs` would end, alone at its lowest exit, at the median. */
function aloneAtLowestFinish(model: ModelView, latency: LatencyModel, policy: ExitPolicy, startTs: number, batchOverheadMs: number): number {
  return startTs + batchOverheadMs + exitCostMs(model, latency, lowestExit(model, policy), 1, 0.5);
}

/**
 * hasNoSlack for many frames starting at the same time: the finish alone at the lowest exit is priced once per policy,
 * so judging a queue of thousands costs a comparison per frame (a plan judges the whole queue before every batch).
 */
export function noSlackJudge(
  model: ModelView,
  latency: LatencyModel,
  startTs: number,
  batchOverheadMs = 0,
): (policy: ExitPolicy, deadlineTs: number) => boolean {
  const aloneAtLowest = new Map<ExitPolicy, number>();
  // Queues are mostly one flow's frames: the last policy's finish is at hand without a lookup.
  let lastPolicy: ExitPolicy | undefined;
  let lastFinish = 0;
  return (policy, deadline) => {
    if (policy !== lastPolicy) {
      let finish = aloneAtLowest.get(policy);
      if (finish === undefined) {
        finish = aloneAtLowestFinish(model, latency, policy, startTs, batchOverheadMs);
        aloneAtLowest.set(policy, finish);
      }
      lastPolicy = policy;
      lastFinish = finish;
    }
    return missesDeadline(lastFinish, deadline);
  };
}

/** Whether a frame predicted to end after `deadlineTs` (at the median) misses: then it is shed or answered late. */
export function missesDeadline(finishTs: number, deadlineTs: number): boolean {
  return finishTs > deadlineTs;
}

/** What a frame that will miss becomes under its flow's late policy: dropped (with a reason), or answered late. */
export function onMiss(policy: ExitPolicy): 'shed' | 'late' {
  return policy.latePolicy === 'shed' ? 'shed' : 'late';
}

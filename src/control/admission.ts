import { ControlError } from './control-error.ts';
import { deadlineTs, exitCostMs, preferredExit, type ExitPolicy } from './exit-policy.ts';
import type { LatencyModel } from './latency-estimator.ts';
import type { ModelView } from './model-view.ts';

/**
 * Why admission dropped a frame (FrameResult.reason):
 * - `no-slack`: even alone, at exit 1, starting now, it would miss its deadline;
 * - `overload`: it could make it alone, but not behind the frames with earlier deadlines, even with every frame at
 *   exit 1;
 * - `queue-full`: the queue holds queueCapacity frames already.
 */
export type ShedReason = 'no-slack' | 'overload' | 'queue-full';

export interface ShedDecision {
  id: string;
  reason: ShedReason;
}

/** A frame waiting for inference; frames of several flows (policies) may share one model's queue. */
export interface QueuedFrame {
  id: string;
  captureTs: number;
  policy: ExitPolicy;
}

export interface PlannerOptions {
  maxBatch: number;
  queueCapacity: number;
  /** Batch sizes the planner compares; default 1, 2, 4, … and maxBatch. */
  batchSizes?: readonly number[];
  /** How many frames (in deadline order) are planned ahead; the rest wait for a later plan. Default 4 × maxBatch. */
  horizon?: number;
  /**
   * When a frame's answer leaves: as soon as it stops at its exit ('exit'), or only when its whole batch is done
   * ('batch-end', the safe assumption when the runner emits a batch at once).
   */
  resultsAt?: 'exit' | 'batch-end';
}

export interface PlannedFrame {
  id: string;
  captureTs: number;
  policy: ExitPolicy;
  deadlineTs: number;
  /** Deepest exit the frame may run to; confidence may stop it earlier, the live deadline check too. */
  capExit: number;
  /** Cannot make its deadline even at exit 1 and its flow answers late: runs exit 1 only, outcome `late`. */
  late: boolean;
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
}

/** Admission at arrival: a frame that finds the queue full is shed at once (the planner also enforces capacity). */
export function admitToQueue(queueLength: number, options: Pick<PlannerOptions, 'queueCapacity'>): ShedReason | null {
  return queueLength >= options.queueCapacity ? 'queue-full' : null;
}

interface Slot {
  frame: QueuedFrame;
  due: number;
  preferred: number;
  cap: number;
  late: boolean;
}

interface Candidate {
  batchSize: number;
  slots: Slot[];
  finishes: number[];
  overloadShed: ShedDecision[];
}

/**
 * Plans the next batch from the queue (EDF: earliest deadline first).
 *
 * Frames behind others have less slack: the planner simulates the queue in batches, each starting when the one ahead
 * is predicted to end. Under overload it degrades before it drops: every frame starts at exit 1; only frames that
 * miss even then are shed (or marked late), the first miss first, so the hopeless go rather than making everyone
 * late. Then exits are raised level by level (everyone to exit 2 before anyone to exit 3, earliest deadline first)
 * as long as no admitted frame would miss. Each candidate batch size is planned this way; the one that sheds fewest,
 * then answers fewest late, then gives the most validated accuracy wins.
 */
export function planBatch(
  queue: readonly QueuedFrame[],
  model: ModelView,
  latency: LatencyModel,
  now: number,
  busyUntilTs: number,
  options: PlannerOptions,
): BatchPlan {
  if (!(options.maxBatch >= 1) || !(options.queueCapacity >= 1)) {
    throw new ControlError('EDGEKE_CONTROL_OPTIONS', 'maxBatch and queueCapacity must be at least 1');
  }
  const startTs = Math.max(now, busyUntilTs);
  const shed: ShedDecision[] = [];
  const ordered = queue
    .map((frame) => ({ frame, due: deadlineTs(frame.captureTs, frame.policy) }))
    .sort((a, b) => a.due - b.due || a.frame.captureTs - b.frame.captureTs || (a.frame.id < b.frame.id ? -1 : 1));

  const alive: Slot[] = [];
  for (const { frame, due } of ordered) {
    const aloneAtExit1 = startTs + exitCostMs(model, latency, 1, 1, frame.policy.riskQuantile);
    const hopeless = aloneAtExit1 > due;
    if (hopeless && frame.policy.latePolicy === 'shed') {
      shed.push({ id: frame.id, reason: 'no-slack' });
      continue;
    }
    if (alive.length >= options.queueCapacity) {
      shed.push({ id: frame.id, reason: 'queue-full' });
      continue;
    }
    alive.push({ frame, due, preferred: preferredExit(model, frame.policy), cap: 1, late: hopeless });
  }

  const horizon = Math.max(options.maxBatch, Math.floor(options.horizon ?? 4 * options.maxBatch));
  const planned = alive.slice(0, horizon);
  const beyond = alive.slice(horizon).map((slot) => slot.frame);
  if (planned.length === 0) {
    return { startTs, batch: [], shed, waiting: beyond, predictedBatchEndTs: startTs };
  }

  const simulator = new QueueSimulator(model, latency, options, planned);
  let best: Candidate | undefined;
  for (const batchSize of candidateBatchSizes(options, planned.length)) {
    const candidate = planWithBatchSize(planned, batchSize, startTs, model, simulator);
    if (best === undefined || isBetter(candidate, best, model)) best = candidate;
  }
  if (best === undefined) throw new ControlError('EDGEKE_CONTROL_OPTIONS', 'no candidate batch size');

  shed.push(...best.overloadShed);
  const batch: PlannedFrame[] = [];
  best.slots.slice(0, best.batchSize).forEach((slot, i) => {
    batch.push({
      id: slot.frame.id,
      captureTs: slot.frame.captureTs,
      policy: slot.frame.policy,
      deadlineTs: slot.due,
      capExit: slot.cap,
      late: slot.late,
      predictedFinishTs: best.finishes[i] ?? startTs,
    });
  });
  const waiting = [...best.slots.slice(best.batchSize).map((slot) => slot.frame), ...beyond];
  const batchEnd = simulator.run(best.slots.slice(0, best.batchSize), best.batchSize, startTs).batchEnds[0] ?? startTs;
  return { startTs, batch, shed, waiting, predictedBatchEndTs: batchEnd };
}

function candidateBatchSizes(options: PlannerOptions, frames: number): number[] {
  const sizes = new Set<number>();
  const requested = options.batchSizes ?? powersOfTwoUpTo(options.maxBatch);
  // Sizes beyond the planned frames all make the same plan.
  for (const size of requested) sizes.add(Math.max(1, Math.min(Math.floor(size), options.maxBatch, frames)));
  return [...sizes].sort((a, b) => a - b);
}

function powersOfTwoUpTo(max: number): number[] {
  const sizes: number[] = [];
  for (let size = 1; size < max; size *= 2) sizes.push(size);
  sizes.push(max);
  return sizes;
}

function planWithBatchSize(
  planned: readonly Slot[],
  batchSize: number,
  startTs: number,
  model: ModelView,
  simulator: QueueSimulator,
): Candidate {
  const slots = planned.map((slot) => ({ ...slot, cap: 1 }));
  const overloadShed: ShedDecision[] = [];

  // 1. Everyone at exit 1 (least work); the first frame that still misses is hopeless behind the ones ahead.
  for (;;) {
    const { finishes } = simulator.run(slots, batchSize, startTs);
    const missing = slots.findIndex((slot, i) => !slot.late && (finishes[i] ?? 0) > slot.due);
    if (missing < 0) break;
    const slot = slots[missing];
    if (slot === undefined) break;
    if (slot.frame.policy.latePolicy === 'answer-late') {
      slot.late = true;
    } else {
      overloadShed.push({ id: slot.frame.id, reason: 'overload' });
      slots.splice(missing, 1);
    }
  }

  // 2. Raise exits level by level while every on-time frame still fits.
  for (let level = 2; level <= model.exits.length; level++) {
    for (const slot of slots) {
      if (slot.late || slot.preferred < level || slot.cap !== level - 1) continue;
      slot.cap = level;
      const { finishes } = simulator.run(slots, batchSize, startTs);
      if (slots.some((other, i) => !other.late && (finishes[i] ?? 0) > other.due)) slot.cap = level - 1;
    }
  }
  const { finishes } = simulator.run(slots, batchSize, startTs);
  return { batchSize, slots, finishes, overloadShed };
}

function isBetter(candidate: Candidate, incumbent: Candidate, model: ModelView): boolean {
  const score = (c: Candidate): number[] => [
    -c.overloadShed.length,
    -c.slots.filter((slot) => slot.late).length,
    c.slots.reduce((sum, slot) => sum + (slot.late ? 0 : (model.exits[slot.cap - 1]?.validationAccuracy ?? 0)), 0),
    // On a tie the bigger batch: same answers now, more throughput left for the frames still to come.
    c.batchSize,
  ];
  const a = score(candidate);
  const b = score(incumbent);
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (Math.abs(x - y) > 1e-9) return x > y;
  }
  return false;
}

/**
 * Predicts when each frame of an ordered queue is answered when run in consecutive batches. Within a batch the stages
 * run once for all frames still going, so stage s costs its price at the number of frames whose exit is at or after s.
 */
class QueueSimulator {
  private readonly stageCost: number[][];
  private readonly exitStage: number[];
  private readonly resultsAtExit: boolean;

  constructor(model: ModelView, latency: LatencyModel, options: PlannerOptions, slots: readonly Slot[]) {
    // One planning risk for the shared timeline: the most careful of the flows in the queue.
    const risk = Math.max(...slots.map((slot) => slot.frame.policy.riskQuantile));
    this.exitStage = model.exits.map((exit) => exit.stage);
    const lastStage = this.exitStage[this.exitStage.length - 1] ?? 0;
    // Cost table [stage][batchSize], computed once per plan: the simulation runs many times.
    this.stageCost = [];
    for (let stage = 0; stage <= lastStage; stage++) {
      const row: number[] = [0];
      for (let n = 1; n <= options.maxBatch; n++) row.push(stage === 0 ? 0 : latency.stageMs(stage, n, risk));
      this.stageCost.push(row);
    }
    this.resultsAtExit = options.resultsAt === 'exit';
  }

  run(slots: readonly Slot[], batchSize: number, startTs: number): { finishes: number[]; batchEnds: number[] } {
    const finishes: number[] = new Array<number>(slots.length).fill(startTs);
    const batchEnds: number[] = [];
    let t = startTs;
    for (let first = 0; first < slots.length; first += batchSize) {
      const last = Math.min(slots.length, first + batchSize);
      let deepest = 0;
      for (let i = first; i < last; i++) deepest = Math.max(deepest, this.stageOfSlot(slots, i));
      const doneAt: number[] = [t];
      for (let stage = 1; stage <= deepest; stage++) {
        let running = 0;
        for (let i = first; i < last; i++) if (this.stageOfSlot(slots, i) >= stage) running++;
        t += this.stageCost[stage]?.[running] ?? 0;
        doneAt.push(t);
      }
      for (let i = first; i < last; i++) {
        finishes[i] = this.resultsAtExit ? (doneAt[this.stageOfSlot(slots, i)] ?? t) : t;
      }
      batchEnds.push(t);
    }
    return { finishes, batchEnds };
  }

  private stageOfSlot(slots: readonly Slot[], i: number): number {
    const cap = slots[i]?.cap ?? 1;
    return this.exitStage[cap - 1] ?? 0;
  }
}

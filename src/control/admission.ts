import { choiceLadder, expectedAccuracy, lossPerStop, type ChoiceCosts, type ExitChoice } from './choice-ladder.ts';
import type { ConfidencePassRates } from './confidence-pass-rates.ts';
import { ControlError } from './control-error.ts';
import { deadlineTs, exitCostMs, lowestExit, preferredExit, type ExitPolicy } from './exit-policy.ts';
import type { LatencyModel } from './latency-estimator.ts';
import { CONFIDENCE_LEVELS, validatedStopLoss, type ConfidenceLevel, type ModelView } from './model-view.ts';

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
   */
  targetUtilization?: number;
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
 * miss even then, at the median latency, are shed (or marked late), the first miss first, so the hopeless go rather
 * than making everyone late. Then frames climb their ladder of (cap, confidence stop) choices step by step (everyone
 * one step before anyone two, earliest deadline first; choice-ladder.ts) as long as no admitted frame would miss.
 * Each candidate batch size is planned this way; the one that sheds fewest, then answers fewest late, then gives the
 * most expected accuracy wins.
 */
export function planBatch(
  queue: readonly QueuedFrame[],
  model: ModelView,
  latency: LatencyModel,
  state: PlannerState,
  options: PlannerOptions,
): BatchPlan {
  if (!(options.maxBatch >= 1) || !(options.queueCapacity >= 1)) {
    throw new ControlError('EDGEKE_CONTROL_OPTIONS', 'maxBatch and queueCapacity must be at least 1');
  }
  const startTs = Math.max(state.now, state.busyUntilTs ?? state.now);
  const shed: ShedDecision[] = [];
  const ordered = queue
    .map((frame) => ({ frame, due: deadlineTs(frame.captureTs, frame.policy) }))
    .sort((a, b) => a.due - b.due || a.frame.captureTs - b.frame.captureTs || (a.frame.id < b.frame.id ? -1 : 1));

  const alive: Slot[] = [];
  for (const { frame, due } of ordered) {
    // Shedding is for the hopeless: judged at the median, not at the risk quantile (a frame that probably makes it at
    // exit 1 runs, even when it might not).
    const lowest = lowestExit(model, frame.policy);
    const aloneAtLowest = startTs + (options.batchOverheadMs ?? 0) + exitCostMs(model, latency, lowest, 1, 0.5);
    const hopeless = aloneAtLowest > due;
    if (hopeless && frame.policy.latePolicy === 'shed') {
      shed.push({ id: frame.id, reason: 'no-slack' });
      continue;
    }
    if (alive.length >= options.queueCapacity) {
      shed.push({ id: frame.id, reason: 'queue-full' });
      continue;
    }
    const slot: Slot = {
      frame,
      due,
      preferred: preferredExit(model, frame.policy),
      cap: lowest,
      late: hopeless,
      stopWhenConfident: stopsWhenIdle(frame.policy),
      accuracy: 0,
      ladder: [],
      step: 0,
      kind: 'planned',
      readyTs: -Infinity,
    };
    alive.push(slot);
  }

  const horizon = Math.max(options.maxBatch, Math.floor(options.horizon ?? 2 * options.maxBatch));
  const planned = alive.slice(0, horizon);
  const beyond = alive.slice(horizon);
  if (planned.length === 0) {
    return probeWhenIdle({ startTs, batch: [], shed, waiting: [], predictedBatchEndTs: startTs }, queue, model, latency, options);
  }
  for (const slot of beyond) slot.kind = 'reserved';
  // At most one horizon of reserved frames (the queue first): the rest of a long queue, and arrivals further ahead,
  // are the next plans' business; the work budget already keeps the long run sustainable. Four horizons made plans
  // slower than the model itself on cwru-bearing at 3x load, and timid: frames far ahead, reserved at exit 1, held
  // back the ones planned now (3x accuracy 93.5% → 97.2% with one, attainment 100% both).
  const reserved = [...beyond, ...expectedArrivals(planned, model, state, horizon)].slice(0, horizon);

  const simulator = new QueueSimulator(model, latency, options, planned, state.confidence);
  // What a busy plan may choose for each frame: one ladder per policy (frames of a flow share theirs).
  const ladders = new Map<ExitPolicy, ExitChoice[]>();
  for (const slot of planned) {
    let ladder = ladders.get(slot.frame.policy);
    if (ladder === undefined) {
      ladder = choiceLadder(model, slot.frame.policy, slot.preferred, simulator);
      ladders.set(slot.frame.policy, ladder);
    }
    slot.ladder = ladder;
  }
  // The work budget serves the arrivals and also drains a backlog (frames beyond two batches, more than batching
  // itself keeps waiting) within the tightest deadline: a queue that is long already gets less work per frame until
  // it is short again. Planning for the arrivals alone would hold a backlog at a steady length, its frames at the
  // edge of their deadlines, for as long as the load lasts.
  const tightestMs = Math.min(...alive.map((slot) => slot.frame.policy.deadlineMs));
  const backlog = Math.max(0, alive.length - 2 * options.maxBatch);
  const sustainedRatePerMs = state.sustainedArrivalRatePerMs ?? state.arrivalRatePerMs ?? 0;
  const backlogRatePerMs = sustainedRatePerMs > 0 ? backlog / Math.max(tightestMs, 1e-3) : 0;
  let best: Candidate | undefined;
  for (const batchSize of candidateBatchSizes(options, planned.length)) {
    const candidate = planWithBatchSize(planned, reserved, batchSize, startTs, model, simulator, {
      arrivalRatePerMs: sustainedRatePerMs + backlogRatePerMs,
      targetUtilization: options.targetUtilization ?? 0.9,
      finishMarginMs: options.finishMarginMs ?? 0,
    });
    if (best === undefined || isBetter(candidate, best)) best = candidate;
    // Largest size first: when it already runs every frame on time at its preferred exit, no smaller size can win;
    // and with a queue of two full batches or more, throughput decides: smaller batches only cost planning time.
    const perfect = candidate.overloadShed.length === 0 && candidate.slots.every((slot) => !slot.late && slot.cap === slot.preferred);
    if (perfect || queue.length >= 2 * options.maxBatch) break;
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
      stopWhenConfident: slot.stopWhenConfident,
      late: slot.late,
      probe: false,
      predictedFinishTs: best.finishes[i] ?? startTs,
    });
  });
  const waiting = [...best.slots.slice(best.batchSize), ...beyond].map((slot) => slot.frame);
  const batchEnd = simulator.run(best.slots.slice(0, best.batchSize), best.batchSize, startTs).firstBatchEnd;
  return probeWhenIdle({ startTs, batch, shed, waiting, predictedBatchEndTs: batchEnd }, queue, model, latency, options);
}

/**
 * When every queued frame is shed for slack, the runtime would idle and the latency model would learn nothing: a
 * model made too pessimistic by a one-off stall would then shed every frame forever. So the shed frame with the
 * latest deadline (not yet past) runs at exit 1 instead, as a probe. It costs no other frame anything: nothing else
 * would run.
 */
function probeWhenIdle(
  plan: BatchPlan,
  queue: readonly QueuedFrame[],
  model: ModelView,
  latency: LatencyModel,
  options: PlannerOptions,
): BatchPlan {
  if (plan.batch.length > 0) return plan;
  let chosen: { frame: QueuedFrame; due: number } | undefined;
  for (const decision of plan.shed) {
    if (decision.reason === 'queue-full') continue;
    const frame = queue.find((f) => f.id === decision.id);
    if (frame === undefined) continue;
    const due = deadlineTs(frame.captureTs, frame.policy);
    // Past its deadline already: no latency model could be wrong enough for it to make it.
    if (due <= plan.startTs) continue;
    if (chosen === undefined || due > chosen.due) chosen = { frame, due };
  }
  if (chosen === undefined) return plan;
  const { frame, due } = chosen;
  const capExit = lowestExit(model, frame.policy);
  const finish =
    plan.startTs + (options.batchOverheadMs ?? 0) + exitCostMs(model, latency, capExit, 1, frame.policy.riskQuantile);
  return {
    ...plan,
    batch: [
      { id: frame.id, captureTs: frame.captureTs, policy: frame.policy, deadlineTs: due, capExit, stopWhenConfident: false, late: false, probe: true, predictedFinishTs: finish },
    ],
    shed: plan.shed.filter((decision) => decision.id !== frame.id),
    predictedBatchEndTs: finish,
  };
}

/**
 * Frames expected to arrive while the planned ones are served (until the last planned deadline, at most `count`), at
 * the recent rate, with the tightest deadline among the planned frames' flows.
 */
function expectedArrivals(planned: readonly Slot[], model: ModelView, state: PlannerState, count: number): Slot[] {
  const rate = state.arrivalRatePerMs ?? 0;
  const first = planned[0];
  if (!(rate > 0) || first === undefined) return [];
  const tightest = planned.reduce((a, b) => (b.frame.policy.deadlineMs < a.frame.policy.deadlineMs ? b : a), first);
  const lastDue = Math.max(...planned.map((slot) => slot.due));
  const arrivals: Slot[] = [];
  for (let i = 1; arrivals.length < count; i++) {
    const arrivalTs = state.now + i / rate;
    if (arrivalTs > lastDue) break;
    const policy = tightest.frame.policy;
    const lowest = lowestExit(model, policy);
    arrivals.push({
      frame: { id: `expected-${i}`, captureTs: arrivalTs, policy },
      due: arrivalTs + policy.deadlineMs,
      preferred: lowest,
      cap: lowest,
      late: false,
      stopWhenConfident: false,
      accuracy: 0,
      ladder: [],
      step: 0,
      kind: 'reserved',
      readyTs: arrivalTs,
    });
  }
  return arrivals;
}

/** The confidence level a slot stops at, if it stops when confident. */
function stopLevel(slot: Slot): ConfidenceLevel | undefined {
  return slot.stopWhenConfident && slot.frame.policy.confidenceStop !== 'none' ? slot.frame.policy.confidenceStop : undefined;
}

/** Whether a frame of this policy stops at a confident exit on an idle machine (a busy plan follows its ladder). */
function stopsWhenIdle(policy: ExitPolicy): boolean {
  return policy.mode !== 'fixed' && policy.confidenceStop !== 'none' && policy.confidenceStopWhen === 'always';
}

function candidateBatchSizes(options: PlannerOptions, frames: number): number[] {
  const sizes = new Set<number>();
  const requested = options.batchSizes ?? powersOfTwoUpTo(options.maxBatch);
  // Sizes beyond the planned frames all make the same plan.
  for (const size of requested) sizes.add(Math.max(1, Math.min(Math.floor(size), options.maxBatch, frames)));
  return [...sizes].sort((a, b) => b - a);
}

function powersOfTwoUpTo(max: number): number[] {
  const sizes: number[] = [];
  for (let size = 1; size < max; size *= 2) sizes.push(size);
  sizes.push(max);
  return sizes;
}

function planWithBatchSize(
  planned: readonly Slot[],
  reserved: readonly Slot[],
  batchSize: number,
  startTs: number,
  model: ModelView,
  simulator: QueueSimulator,
  load: { arrivalRatePerMs: number; targetUtilization: number; finishMarginMs: number },
): Candidate {
  const slots = planned.map((slot) => ({ ...slot, cap: lowestExit(model, slot.frame.policy) }));
  const overloadShed: ShedDecision[] = [];
  const margin = Math.max(0, load.finishMarginMs);
  // Hopeless: misses even at the median with nothing in reserve. Choosing exits keeps the margin in reserve.
  const hopeless = (slot: Slot, finish: number | undefined): boolean => !slot.late && (finish ?? 0) > slot.due;
  const misses = (slot: Slot, finish: number | undefined): boolean => !slot.late && (finish ?? 0) + margin > slot.due;

  // Light load: when every frame at its preferred exit already fits (and so do the expected arrivals, within the
  // work budget), that is the plan: one simulation instead of one per raise below. Confidence stops with
  // confidenceStopWhen 'busy' stay off: nothing needs the time they would save.
  if (slots.every((slot) => !slot.late)) {
    for (const slot of slots) {
      slot.cap = slot.preferred;
      slot.accuracy = expectedAccuracy(model, slot.frame.policy, slot.cap, simulator.stopLoss(slot.cap, stopLevel(slot)));
    }
    const everyone = [...slots, ...reserved];
    const run = simulator.run(everyone, batchSize, startTs);
    const fits = everyone.every((slot, i) => !misses(slot, run.finishes[i]) && run.overflows[i] !== 1);
    if (fits && withinWorkBudget(slots, batchSize, simulator, load)) {
      return { batchSize, slots, finishes: Array.from(run.finishes.subarray(0, slots.length)), overloadShed };
    }
    for (const slot of slots) slot.cap = lowestExit(model, slot.frame.policy);
  }
  // Busy: each frame climbs its ladder of choices (choice-ladder.ts): caps, with or without a confidence stop,
  // ordered so that each step buys less accuracy per millisecond than the one before.
  const choose = (slot: Slot, step: number): void => {
    const choice = slot.ladder[step];
    if (choice === undefined) return;
    slot.step = step;
    slot.cap = choice.capExit;
    slot.stopWhenConfident = choice.stop !== undefined;
    slot.accuracy = choice.accuracy;
  };
  for (const slot of slots) choose(slot, 0);

  // 1. Everyone on the ladder's first step, exit 1 (least work); the first frame that still misses, at the median,
  //    is hopeless behind the ones ahead.
  for (;;) {
    const { finishes } = simulator.run(slots, batchSize, startTs, 'median');
    const missing = slots.findIndex((slot, i) => hopeless(slot, finishes[i]));
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

  // Reserved frames that miss (or overflow the queue) even now are not made worse by anything below; the others
  // must keep fitting. From here on no slot is added or removed, only exits change.
  const everyone = [...slots, ...reserved];
  const failsIn = (run: SimulatedRun, i: number): boolean => {
    const slot = everyone[i];
    return slot !== undefined && (misses(slot, run.finishes[i]) || run.overflows[i] === 1);
  };
  const baselineRun = simulator.run(everyone, batchSize, startTs);
  const watched = everyone.map((slot, i) => (slot.kind === 'planned' ? !slot.late : !failsIn(baselineRun, i)));
  // An admitted frame that fits at the median but not at the risk quantile is at risk already: raising others must
  // not make it later still.
  const latestFinish = everyone.map((slot, i) => Math.max(slot.due - margin, baselineRun.finishes[i] ?? slot.due));
  const breaksSomeone = (): boolean => {
    const run = simulator.run(everyone, batchSize, startTs);
    for (let i = 0; i < everyone.length; i++) {
      if (watched[i] !== true) continue;
      const slot = everyone[i];
      if (slot?.kind === 'planned' ? (run.finishes[i] ?? 0) > (latestFinish[i] ?? 0) : failsIn(run, i)) return true;
    }
    return false;
  };

  // 2. Raise frames step by step while every on-time frame (and every guarded reserved one) still fits, and the
  //    mean work per frame stays sustainable at the arrival rate.
  // Sustained load is served in full batches: judge the long-run work at maxBatch, whatever this batch's size.
  // The budget holds per batch, not over the plan: only the first batch runs before the next plan, so a plan-wide
  // budget would be spent on the head of the queue again and again.
  const perFrameMs = (slot: Slot): number => simulator.workPerFrameMs(slot);
  const budgetPerFrameMs = load.arrivalRatePerMs > 0 ? load.targetUtilization / load.arrivalRatePerMs : Infinity;
  const batchWorkMs: number[] = [];
  slots.forEach((slot, i) => {
    const b = Math.floor(i / batchSize);
    batchWorkMs[b] = (batchWorkMs[b] ?? 0) + perFrameMs(slot);
  });
  const batchBudgetMs = (b: number): number => budgetPerFrameMs * Math.min(batchSize, slots.length - b * batchSize);
  // One raise step over the frames it applies to (earliest deadline first, within their batch's budget): they are
  // raised as a prefix. Raising more frames only ever makes finishes later, so the longest prefix that keeps
  // everyone on time is found by bisection, in a handful of simulations instead of one per frame. Returns how many.
  const raisePrefix = (eligible: (slot: Slot) => boolean, set: (slot: Slot, raised: boolean) => void): number => {
    const candidates: { slot: Slot; batch: number; extraMs: number }[] = [];
    const reservedWork = [...batchWorkMs];
    slots.forEach((slot, i) => {
      if (slot.late || !eligible(slot)) return;
      const b = Math.floor(i / batchSize);
      set(slot, true);
      const raisedMs = perFrameMs(slot);
      set(slot, false);
      const added = raisedMs - perFrameMs(slot);
      if ((reservedWork[b] ?? 0) + added > batchBudgetMs(b)) return;
      reservedWork[b] = (reservedWork[b] ?? 0) + added;
      candidates.push({ slot, batch: b, extraMs: added });
    });
    if (candidates.length === 0) return 0;
    const raiseFirst = (count: number): void => candidates.forEach((c, k) => set(c.slot, k < count));
    let fits = 0;
    let breaks = candidates.length + 1;
    raiseFirst(candidates.length);
    if (!breaksSomeone()) fits = candidates.length;
    else breaks = candidates.length;
    while (breaks - fits > 1) {
      const mid = (fits + breaks) >> 1;
      raiseFirst(mid);
      if (breaksSomeone()) breaks = mid;
      else fits = mid;
    }
    raiseFirst(fits);
    for (const c of candidates.slice(0, fits)) batchWorkMs[c.batch] = (batchWorkMs[c.batch] ?? 0) + c.extraMs;
    return fits;
  };
  // Step by step: every frame one step up its ladder before any frame two. When a step cannot take every frame (the
  // later ones would miss, or their batch is out of budget), no frame takes the next: the time a second step would
  // give the head of the queue is what the frames behind it need for their first. Raising the head further anyway
  // left frames behind it at exit 1 in the next plans (fashion-mnist at 2x: 15% of frames at exit 1, 16% at exit 2
  // where everyone fits the step between).
  const steps = Math.max(...slots.map((slot) => slot.ladder.length));
  for (let step = 1; step < steps; step++) {
    const eligible = (slot: Slot): boolean => slot.step === step - 1 && step < slot.ladder.length;
    const waiting = slots.filter((slot) => !slot.late && eligible(slot)).length;
    const raised = raisePrefix(eligible, (slot, up) => choose(slot, up ? step : step - 1));
    if (raised < waiting) break;
  }
  const finishes = Array.from(simulator.run(slots, batchSize, startTs).finishes.subarray(0, slots.length));
  return { batchSize, slots, finishes, overloadShed };
}

/** Whether each batch's mean median work per frame is sustainable at the arrival rate (see the raise pass). */
function withinWorkBudget(
  slots: readonly Slot[],
  batchSize: number,
  simulator: QueueSimulator,
  load: { arrivalRatePerMs: number; targetUtilization: number },
): boolean {
  if (!(load.arrivalRatePerMs > 0)) return true;
  const budgetPerFrameMs = load.targetUtilization / load.arrivalRatePerMs;
  for (let first = 0; first < slots.length; first += batchSize) {
    const batch = slots.slice(first, first + batchSize);
    const work = batch.reduce((sum, slot) => sum + simulator.workPerFrameMs(slot), 0);
    if (work > budgetPerFrameMs * batch.length + 1e-9) return false;
  }
  return true;
}

function isBetter(candidate: Candidate, incumbent: Candidate): boolean {
  const score = (c: Candidate): number[] => [
    -c.overloadShed.length,
    -c.slots.filter((slot) => slot.late).length,
    c.slots.reduce((sum, slot) => sum + (slot.late ? 0 : slot.accuracy), 0),
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

/** What QueueSimulator.run predicts for each frame of the queue. */
interface SimulatedRun {
  finishes: Float64Array;
  /** 1 where an expected arrival would find the queue full. */
  overflows: Uint8Array;
  firstBatchEnd: number;
}

/**
 * A stage's predicted time at a batch size and risk, asked of the latency model once per plan: the simulation runs
 * many times per plan, and a plan mostly needs a few of the batch sizes up to maxBatch.
 */
class StageCostTable {
  private readonly cells: Float64Array;

  constructor(
    private readonly latency: LatencyModel,
    stages: number,
    private readonly maxBatch: number,
    private readonly risk: number,
  ) {
    this.cells = new Float64Array((stages + 1) * (maxBatch + 1)).fill(NaN);
  }

  ms(stage: number, batchSize: number): number {
    const cell = stage * (this.maxBatch + 1) + batchSize;
    let value = this.cells[cell];
    if (value === undefined) return 0;
    if (Number.isNaN(value)) {
      value = this.latency.stageMs(stage, batchSize, this.risk);
      this.cells[cell] = value;
    }
    return value;
  }
}

/**
 * Predicts when each frame of an ordered queue is answered when run in consecutive batches. Within a batch the stages
 * run once for all frames still going, so stage s costs its price at the number of frames expected to run it: every
 * frame up to its cap, less, for frames that stop when confident, the share the learned pass rates take off earlier
 * (rounded up: a stage that probably runs for 1.2 frames is priced at 2). Also prices each (cap, stop) choice for the
 * choice ladder: its work per frame and what its stops cost in accuracy.
 */
class QueueSimulator implements ChoiceCosts {
  private readonly stageCost: StageCostTable;
  private readonly medianStageCost: StageCostTable;
  private readonly exitStage: number[];
  private readonly lastStage: number;
  private readonly resultsAtExit: boolean;
  private readonly queueCapacity: number;
  private readonly maxBatch: number;
  private readonly batchOverheadMs: number;
  /** P(the frame runs stage s) by (cap, confidence stop level), see reachKey; filled on first use. */
  private readonly reachTable: (Float64Array | undefined)[] = [];
  private readonly workTable: (number | undefined)[] = [];
  private readonly stopLossTable: (number | undefined)[] = [];
  private finishes = new Float64Array(0);
  private starts = new Float64Array(0);
  private overflows = new Uint8Array(0);
  private stageOf = new Int32Array(0);
  private reachOf: Float64Array[] = [];
  private readonly doneAt: Float64Array;
  private readonly expectedRunning: Float64Array;

  constructor(
    private readonly model: ModelView,
    latency: LatencyModel,
    options: PlannerOptions,
    slots: readonly Slot[],
    private readonly confidence: ConfidencePassRates | undefined,
  ) {
    // One planning risk for the shared timeline: the most careful of the flows in the queue.
    const risk = Math.max(...slots.map((slot) => slot.frame.policy.riskQuantile));
    this.exitStage = model.exits.map((exit) => exit.stage);
    const lastStage = this.exitStage[this.exitStage.length - 1] ?? 0;
    this.lastStage = lastStage;
    this.stageCost = new StageCostTable(latency, lastStage, options.maxBatch, risk);
    this.medianStageCost = new StageCostTable(latency, lastStage, options.maxBatch, 0.5);
    this.resultsAtExit = options.resultsAt === 'exit';
    this.queueCapacity = options.queueCapacity;
    this.maxBatch = options.maxBatch;
    this.batchOverheadMs = Math.max(0, options.batchOverheadMs ?? 0);
    this.doneAt = new Float64Array(lastStage + 1);
    this.expectedRunning = new Float64Array(lastStage + 1);
  }

  /** Level 0: no confidence stop; 1..3: stop at that level. */
  private reachKey(cap: number, level: ConfidenceLevel | undefined): number {
    return cap * (CONFIDENCE_LEVELS.length + 1) + (level === undefined ? 0 : CONFIDENCE_LEVELS.indexOf(level) + 1);
  }

  /** reach[s]: probability that a frame with this cap and stop level runs stage s (index 0 unused). */
  private reach(cap: number, level: ConfidenceLevel | undefined): Float64Array {
    const key = this.reachKey(cap, level);
    let reach = this.reachTable[key];
    if (reach !== undefined) return reach;
    reach = new Float64Array(this.lastStage + 1);
    const capStage = this.exitStage[cap - 1] ?? 0;
    let goingOn = 1;
    let exit = 0; // exits passed so far (0-based index of the next exit)
    for (let stage = 1; stage <= capStage; stage++) {
      reach[stage] = goingOn;
      if (stage === this.exitStage[exit]) {
        exit++;
        goingOn *= 1 - this.passRate(exit, level);
      }
    }
    this.reachTable[key] = reach;
    return reach;
  }

  /**
   * Expected median work per frame at cap in a full batch (long-run work is about typical, not tail, cost),
   * including its share of the per-batch overhead: for a small model that overhead is a good part of the work.
   */
  workPerFrameMs(slot: Slot): number {
    return this.workMs(slot.cap, stopLevel(slot));
  }

  workMs(cap: number, level: ConfidenceLevel | undefined): number {
    const key = this.reachKey(cap, level);
    let work = this.workTable[key];
    if (work !== undefined) return work;
    const reach = this.reach(cap, level);
    work = this.batchOverheadMs / this.maxBatch;
    for (let stage = 1; stage <= this.lastStage; stage++) {
      work += (reach[stage] ?? 0) * (this.medianStageCost.ms(stage, this.maxBatch) / this.maxBatch);
    }
    this.workTable[key] = work;
    return work;
  }

  /** Expected accuracy lost per frame to stops at confident exits before cap: Σ P(stop at k) × lossPerStop at k. */
  stopLoss(cap: number, level: ConfidenceLevel | undefined): number {
    if (level === undefined) return 0;
    const key = this.reachKey(cap, level);
    let loss = this.stopLossTable[key];
    if (loss !== undefined) return loss;
    loss = 0;
    let goingOn = 1;
    for (let exit = 1; exit < cap; exit++) {
      const rate = this.passRate(exit, level);
      const learnt = this.confidence?.disagreement?.(exit, level, cap) ?? NaN;
      loss += goingOn * rate * lossPerStop(level, learnt, validatedStopLoss(this.model, exit, level, cap));
      goingOn *= 1 - rate;
    }
    this.stopLossTable[key] = loss;
    return loss;
  }

  /** Learned share of the frames reaching `exit` that its threshold at `level` stops; 0 without a stop or data. */
  private passRate(exit: number, level: ConfidenceLevel | undefined): number {
    if (level === undefined || this.confidence === undefined) return 0;
    const rate = this.confidence.passRate(exit, level);
    return Number.isFinite(rate) ? Math.min(1, Math.max(0, rate)) : 0;
  }

  /**
   * finishes: when each answer is out. overflows: for expected arrivals, whether the queue would already hold
   * queueCapacity frames when it arrives (it would be shed as queue-full). The arrays are the simulator's own
   * buffers, reused by the next run (it runs hundreds of times per plan): read them before running again.
   */
  run(slots: readonly Slot[], batchSize: number, startTs: number, costs: 'risk' | 'median' = 'risk'): SimulatedRun {
    const stageCost = costs === 'median' ? this.medianStageCost : this.stageCost;
    const n = slots.length;
    if (this.finishes.length < n) {
      const size = Math.max(n, 2 * this.finishes.length);
      this.finishes = new Float64Array(size);
      this.starts = new Float64Array(size);
      this.overflows = new Uint8Array(size);
      this.stageOf = new Int32Array(size);
    }
    const { finishes, starts, overflows, stageOf, doneAt, expectedRunning } = this;
    const reachOf = this.reachOf;
    reachOf.length = n;
    for (let i = 0; i < n; i++) {
      const slot = slots[i] as Slot;
      stageOf[i] = this.exitStage[slot.cap - 1] ?? 0;
      reachOf[i] = this.reach(slot.cap, stopLevel(slot));
    }
    // Times at the risk quantile: the median timeline plus the excess over it. Within a batch the stages' excesses
    // add up (a slow batch is slow throughout); across batches they add in quadrature, as independent spreads do: a
    // stall in one batch is not a stall in the next, and a persistent slowdown is in the medians already (the
    // latency estimator's scale). Summing every batch's own quantile made a backlog of five batches look ~30% longer
    // to drain than it ever took, and frames behind it were lowered for nothing.
    let median = startTs;
    let spreadSq = 0;
    let firstBatchEnd = startTs;
    for (let first = 0; first < n; first += batchSize) {
      const last = Math.min(n, first + batchSize);
      let deepest = 0;
      let ready = -Infinity;
      expectedRunning.fill(0);
      for (let i = first; i < last; i++) {
        const stages = stageOf[i] ?? 0;
        deepest = Math.max(deepest, stages);
        ready = Math.max(ready, slots[i]?.readyTs ?? -Infinity);
        const reach = reachOf[i] as Float64Array;
        for (let stage = 1; stage <= stages; stage++) expectedRunning[stage] = (expectedRunning[stage] ?? 0) + (reach[stage] ?? 0);
      }
      // Waiting for an expected arrival: the runtime idles first, and the earlier batches' spread is absorbed once
      // even their slow case would have ended.
      if (ready > median) {
        if (ready >= median + Math.sqrt(spreadSq)) spreadSq = 0;
        median = ready;
      }
      const batchStart = median + Math.sqrt(spreadSq);
      for (let i = first; i < last; i++) starts[i] = batchStart;
      median += this.batchOverheadMs;
      doneAt[0] = median + Math.sqrt(spreadSq);
      let excess = 0;
      for (let stage = 1; stage <= deepest; stage++) {
        const running = Math.ceil((expectedRunning[stage] ?? 0) - 1e-9);
        if (running > 0) {
          const typical = this.medianStageCost.ms(stage, running);
          median += typical;
          excess += Math.max(0, stageCost.ms(stage, running) - typical);
        }
        doneAt[stage] = median + Math.sqrt(spreadSq + excess * excess);
      }
      spreadSq += excess * excess;
      const end = median + Math.sqrt(spreadSq);
      for (let i = first; i < last; i++) finishes[i] = this.resultsAtExit ? (doneAt[stageOf[i] ?? 0] ?? end) : end;
      if (first === 0) firstBatchEnd = end;
    }
    // Batch starts never decrease along the order, and expected arrivals come in arrival order: one sweep finds,
    // at each arrival, the first frame that has not started yet.
    let firstWaiting = 0;
    for (let i = 0; i < n; i++) {
      overflows[i] = 0;
      const readyTs = slots[i]?.readyTs ?? -Infinity;
      if (!Number.isFinite(readyTs)) continue;
      while (firstWaiting < i && (starts[firstWaiting] ?? Infinity) <= readyTs) firstWaiting++;
      overflows[i] = i - firstWaiting >= this.queueCapacity ? 1 : 0;
    }
    return { finishes, overflows, firstBatchEnd };
  }
}

import { expectedAccuracy } from './choice-ladder.ts';
import { lowestExit } from './exit-policy.ts';
import type { ModelView } from './model-view.ts';
import { missesDeadline, onMiss, type ShedDecision } from './admission.ts';
import { stopLevel, type Slot } from './plan-slot.ts';
import type { QueueSimulator, SimulatedRun } from './queue-simulator.ts';

/** One candidate batch size's plan of the queue. */
export interface Candidate {
  batchSize: number;
  slots: Slot[];
  finishes: number[];
  overloadShed: ShedDecision[];
}

export function planWithBatchSize(
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
  const hopeless = (slot: Slot, finish: number | undefined): boolean => !slot.late && missesDeadline(finish ?? 0, slot.due);
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
      return { batchSize, slots, finishes: run.finishes.slice(0, slots.length), overloadShed };
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
    if (onMiss(slot.frame.policy) === 'late') {
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
  const finishes = simulator.run(slots, batchSize, startTs).finishes.slice(0, slots.length);
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

export function isBetter(candidate: Candidate, incumbent: Candidate): boolean {
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

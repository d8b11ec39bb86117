import { lossPerStop, type ChoiceCosts } from './choice-ladder.ts';
import type { ConfidencePassRates } from './confidence-pass-rates.ts';
import type { LatencyModel } from './latency-estimator.ts';
import { CONFIDENCE_LEVELS, validatedStopLoss, type ConfidenceLevel, type ModelView } from './model-view.ts';
import { stopLevel, type Slot } from './plan-slot.ts';
import type { PlannerOptions } from './planner-types.ts';

/** What QueueSimulator.run predicts for each frame of the queue. */
export interface SimulatedRun {
  finishes: number[];
  /** 1 where an expected arrival would find the queue full. */
  overflows: number[];
  firstBatchEnd: number;
}

/**
 * A stage's predicted time at a batch size and risk, asked of the latency model once per plan: the simulation runs
 * many times per plan, and a plan mostly needs a few of the batch sizes up to maxBatch.
 */
class StageCostTable {
  private readonly cells: number[];

  constructor(
    private readonly latency: LatencyModel,
    stages: number,
    private readonly maxBatch: number,
    private readonly risk: number,
  ) {
    this.cells = new Array<number>((stages + 1) * (maxBatch + 1)).fill(NaN);
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
export class QueueSimulator implements ChoiceCosts {
  private readonly stageCost: StageCostTable;
  private readonly medianStageCost: StageCostTable;
  private readonly exitStage: number[];
  private readonly lastStage: number;
  private readonly resultsAtExit: boolean;
  private readonly queueCapacity: number;
  private readonly maxBatch: number;
  private readonly batchOverheadMs: number;
  /** P(the frame runs stage s) by (cap, confidence stop level), see reachKey; filled on first use. */
  private readonly reachTable: (number[] | undefined)[] = [];
  private readonly workTable: (number | undefined)[] = [];
  private readonly stopLossTable: (number | undefined)[] = [];
  // Plain arrays, not typed ones: a plan builds a simulator, and typed arrays cost an allocation outside the JS heap
  // each; profiling a plan of a 200-frame queue on cwru-bearing found a third of its time in the collector.
  private readonly finishes: number[] = [];
  private readonly starts: number[] = [];
  private readonly overflows: number[] = [];
  private readonly stageOf: number[] = [];
  private readonly reachOf: number[][] = [];
  private readonly doneAt: number[];
  private readonly expectedRunning: number[];

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
    this.doneAt = new Array<number>(lastStage + 1).fill(0);
    this.expectedRunning = new Array<number>(lastStage + 1).fill(0);
  }

  /** Level 0: no confidence stop; 1..3: stop at that level. */
  private reachKey(cap: number, level: ConfidenceLevel | undefined): number {
    return cap * (CONFIDENCE_LEVELS.length + 1) + (level === undefined ? 0 : CONFIDENCE_LEVELS.indexOf(level) + 1);
  }

  /** reach[s]: probability that a frame with this cap and stop level runs stage s (index 0 unused). */
  private reach(cap: number, level: ConfidenceLevel | undefined): number[] {
    const key = this.reachKey(cap, level);
    let reach = this.reachTable[key];
    if (reach !== undefined) return reach;
    reach = new Array<number>(this.lastStage + 1).fill(0);
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
    while (this.finishes.length < n) {
      this.finishes.push(0);
      this.starts.push(0);
      this.overflows.push(0);
      this.stageOf.push(0);
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
        const reach = reachOf[i] as number[];
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

import type { ShedReason } from '../../src/control/admission.ts';
import { ExitController, type PlanLimits } from '../../src/control/exit-controller.ts';
import type { ExitPolicy } from '../../src/control/exit-policy.ts';
import { LatencyEstimator } from '../../src/control/latency-estimator.ts';
import { batchFactor, gaussian, MODEL, profile, seededRandom, STAGE_MS } from './fixtures.ts';

/**
 * A model server in virtual time, driving the ExitController as the executor does: Poisson arrivals through `admit`,
 * `plan` picks batches, stages "run" for a true latency (the profile times, noisy, optionally slowed down) and feed
 * `observeStage`, the batch's `decide` callback decides after each exit, `observe` learns from every batch (pass
 * rates from the synthetic confidences, batch overhead, plan error) and `observeOutcome` from every frame's outcome.
 */
export interface SimulationSettings {
  /** Offered load as a multiple of final-exit capacity (maxBatch frames per final-exit batch time). */
  load: number;
  durationMs: number;
  policy: ExitPolicy;
  planner: PlanLimits;
  seed?: number;
  /** Lognormal sigma of the true stage times. */
  noise?: number;
  /** Multiplier of the true stage times at virtual time t (a machine turning busy). */
  slowdown?: (t: number) => number;
  /** Chance that a stage stalls (a GC pause, a busy neighbour), and how many times longer it then takes. */
  stalls?: { probability: number; factor: number };
  /** Whether the planner gets the measured arrival rate, as the pipeline will give it; default true. */
  knowsArrivalRate?: boolean;
}

export interface FrameRecord {
  id: string;
  captureTs: number;
  outcome: 'ok' | 'late' | 'shed';
  reason?: ShedReason;
  exit?: number;
  answer?: 'exit' | 'vote';
  finishTs?: number;
}

export interface SimulationReport {
  frames: FrameRecord[];
  /** Per plan: the caps of the frames it ran and how many it shed for slack or overload. */
  plans: { caps: number[]; slackSheds: number }[];
  finalExitCapacityPerMs: number;
}

export function finalExitCapacityPerMs(maxBatch: number): number {
  const finalMs = STAGE_MS.reduce((a, b) => a + b, 0) * batchFactor(maxBatch);
  return maxBatch / finalMs;
}

export function simulate(settings: SimulationSettings): SimulationReport {
  const random = seededRandom(settings.seed ?? 1);
  const noise = settings.noise ?? 0.05;
  const slowdown = settings.slowdown ?? (() => 1);
  const controller = new ExitController({
    model: MODEL,
    latency: new LatencyEstimator(profile(1.1)),
    measuresArrivals: settings.knowsArrivalRate !== false,
  });
  const capacity = finalExitCapacityPerMs(settings.planner.maxBatch);
  const rate = settings.load * capacity;

  const arrivals: number[] = [];
  for (let t = -Math.log(1 - random()) / rate; t < settings.durationMs; t += -Math.log(1 - random()) / rate) arrivals.push(t);

  const records = new Map<string, FrameRecord>();
  const plans: SimulationReport['plans'] = [];
  let queue: { id: string; captureTs: number; policy: ExitPolicy }[] = [];
  let next = 0;
  let t = 0;
  const exitOfStage = new Map(MODEL.exits.map((exit) => [exit.stage, exit.index]));
  const lastStage = MODEL.exits[MODEL.exits.length - 1]?.stage ?? 0;

  while (next < arrivals.length || queue.length > 0) {
    for (; next < arrivals.length && (arrivals[next] ?? Infinity) <= t; next++) {
      const id = `f${next}`;
      const record: FrameRecord = { id, captureTs: arrivals[next] ?? 0, outcome: 'ok' };
      records.set(id, record);
      const refused = controller.admit(record.captureTs, queue.length, settings.planner.queueCapacity);
      if (refused !== null) {
        Object.assign(record, { outcome: 'shed', reason: refused });
        controller.observeOutcome(false, record.captureTs);
      }
      else queue.push({ id, captureTs: record.captureTs, policy: settings.policy });
    }
    if (queue.length === 0) {
      t = arrivals[next] ?? t;
      continue;
    }
    const plan = controller.plan(queue, t, settings.planner, t);
    for (const shed of plan.shed) {
      Object.assign(records.get(shed.id) ?? {}, { outcome: 'shed', reason: shed.reason });
      controller.observeOutcome(false, t);
    }
    plans.push({ caps: plan.batch.map((f) => f.capExit), slackSheds: plan.shed.filter((s) => s.reason !== 'queue-full').length });
    queue = plan.waiting;
    if (plan.batch.length === 0) continue;

    const startTs = t;
    let stagesMs = 0;
    const answers = plan.batch.map(() => ({ exits: [] as { confidence: number; classIndex: number }[] }));
    let running = plan.batch.map((_, i) => i);
    for (let stage = 1; stage <= lastStage && running.length > 0; stage++) {
      const base = (STAGE_MS[stage - 1] ?? 0) * batchFactor(running.length);
      const stalled = settings.stalls !== undefined && random() < settings.stalls.probability;
      const ms = base * slowdown(t) * Math.exp(noise * gaussian(random)) * (stalled ? (settings.stalls?.factor ?? 1) : 1);
      t += ms;
      stagesMs += ms;
      controller.observeStage({ stage, batchSize: running.length, ms });
      const exit = exitOfStage.get(stage);
      if (exit === undefined) continue;
      running = running.filter((i) => {
        const frame = plan.batch[i];
        if (frame === undefined) return false;
        // Synthetic confidence: easy frames are confident early, hard ones never.
        const difficulty = (Number(frame.id.slice(1)) * 0.6180339887) % 1;
        const confidence = Math.min(1, 0.1 + 0.12 * exit + 0.6 * (1 - difficulty));
        // Synthetic answers: exit 1 answers the hardest fifth differently from the deeper exits.
        answers[i]?.exits.push({ confidence, classIndex: exit === 1 && difficulty > 0.8 ? 1 : 0 });
        if (plan.decide(i, exit, confidence, t) === 'continue') return true;
        Object.assign(records.get(frame.id) ?? {}, {
          outcome: frame.late ? 'late' : 'ok',
          exit,
          answer: plan.answerBy(i, { exit, exits: answers[i]?.exits ?? [] }, t),
          finishTs: t,
        });
        controller.observeOutcome(!frame.late && t <= frame.deadlineTs, t);
        return false;
      });
    }
    controller.observe(plan, { answers, startTs, endTs: t, stagesMs });
  }
  return { frames: [...records.values()], plans, finalExitCapacityPerMs: capacity };
}

export interface SimulationSummary {
  frames: number;
  shedRate: number;
  /** Of the frames answered (not shed): the share answered within their deadline. */
  admittedAttainment: number;
  meanExit: number;
  undecided: number;
}

export function summarize(report: SimulationReport, deadlineMs: number): SimulationSummary {
  const answered = report.frames.filter((f) => f.outcome !== 'shed');
  const onTime = answered.filter((f) => f.finishTs !== undefined && f.finishTs - f.captureTs <= deadlineMs);
  return {
    frames: report.frames.length,
    shedRate: (report.frames.length - answered.length) / Math.max(1, report.frames.length),
    admittedAttainment: onTime.length / Math.max(1, answered.length),
    meanExit: answered.reduce((sum, f) => sum + (f.exit ?? 0), 0) / Math.max(1, answered.length),
    undecided: report.frames.filter((f) => f.outcome !== 'shed' && f.exit === undefined).length,
  };
}

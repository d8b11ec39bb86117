/**
 * Exit-policy benchmark: each shipped model's test split replayed as a Poisson stream at several offered loads
 * (multiples of final-exit capacity = maxBatch frames per final-exit batch time), with real execution through the
 * runtime (MultiExitRunner + ONNX Runtime) and a virtual clock that advances by the real compute time (idle time is
 * skipped, so a 3x-load run takes as long as its inference work, not as long as the stream).
 *
 * Policies, on the same arrivals:
 *   ours             the controller: EDF planner (exits lowered before shedding, shed the hopeless), deadline mode,
 *                    confidence stop at 0.95, weighted vote where the manifest says it beats the last exit
 *   always-final     FIFO batches, every frame to the last exit
 *   always-exit-1    FIFO batches, every frame stops at exit 1
 *   edgeke-static    FIFO batches, one exit picked offline: the deepest whose profiled p95 (batch 1) fits the deadline
 *   confidence-only  FIFO batches, stop at the first exit passing its 0.95 threshold, else the last exit
 *   oracle           FIFO batches, each frame stops at the shallowest exit that answers it correctly (read from the
 *                    labels), at exit 1 when none does: the most accuracy for the least work (the limit, not a policy)
 * Every policy has the same queue capacity; a frame refused or shed counts as a miss.
 *
 * Also the EdgeKE paper's tables (unloaded, from the per-exit answers and the profile): accuracy loss vs the final
 * exit at several latency budgets, and speedup at several accuracy requirements.
 *
 *   node --expose-gc --v8-pool-size=1 --import tsx bench/policies.ts [--model models/x ...] [--frames all|N] [--loads 0.5,1,1.5,2,3]
 *        [--deadline-factor 1.5] [--deadline-floor-ms 10] [--max-batch auto|N] [--queue auto|N] [--threads 1] [--seed 1]
 *        [--min-duration-ms 2000] [--smoke] [--no-plot]
 * Each load's stream cycles through the test frames until it lasts --min-duration-ms at that load.
 * Without shipped models it runs the tiny fixtures on seeded noise (labels = the final exit's answers) as a smoke
 * test and says so in the output (--smoke does the same for the models given).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { admitToQueue } from '../src/control/admission.ts';
import { ConfidencePassRateEstimator } from '../src/control/confidence-pass-rates.ts';
import { ExitController } from '../src/control/exit-controller.ts';
import { passesConfidence, type ExitPolicy } from '../src/control/exit-policy.ts';
import type { PlannedFrame, QueuedFrame } from '../src/control/planner-types.ts';
import { LatencyEstimator } from '../src/control/latency-estimator.ts';
import type { ModelView } from '../src/control/model-view.ts';
import { openTestSet } from '../src/model/datasets/locate.ts';
import { loadModel, type LoadedModel } from '../src/model/load-model.ts';
import { inputSize, type Manifest } from '../src/model/manifest.ts';
import { MultiExitRunner, type ExitDecider, type FrameAnswer } from '../src/model/multi-exit-runner.ts';
import { loadOrMeasureProfile, quantile } from '../src/model/profiler.ts';
import { modelViewOf } from '../src/pipeline/model-view.ts';
import { seededRandom } from '../test/helpers/seeded-random.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', multiple: true },
    frames: { type: 'string', default: 'all' },
    loads: { type: 'string', default: '0.5,1,1.5,2,3' },
    'deadline-factor': { type: 'string', default: '1.5' },
    'deadline-floor-ms': { type: 'string', default: '10' },
    'max-batch': { type: 'string', default: 'auto' },
    queue: { type: 'string', default: 'auto' },
    threads: { type: 'string', default: '1' },
    seed: { type: 'string', default: '1' },
    'min-duration-ms': { type: 'string', default: '2000' },
    out: { type: 'string', default: 'bench/results/policies.json' },
    smoke: { type: 'boolean', default: false },
    'no-plot': { type: 'boolean', default: false },
  },
});
/**
 * Test frames per model ('all': the whole test split). Ours and the baselines differ by fractions of a point at light
 * load; on a few hundred frames that is a handful of frames, and which few decides the verdict. The stream cycles
 * through them either way, so more frames cost only the one pass that records every exit's answers.
 */
const frameCount = values.frames === 'all' ? Infinity : Number(values.frames);
/** Frames of seeded noise in a smoke run. */
const SMOKE_FRAMES = 400;
const loads = (values.loads ?? '').split(',').map(Number);
const deadlineFactor = Number(values['deadline-factor']);
const deadlineFloorMs = Number(values['deadline-floor-ms']);
/**
 * 'auto': per model, the largest of 8, 16 and 32 whose final-exit batch takes at most a quarter of the deadline
 * floor. A small model answers a batch of 8 in a fraction of a millisecond: per-batch costs (planning, the
 * runner's own work) would then decide the result, and a user would configure bigger batches for it.
 */
const maxBatchSetting = values['max-batch'] ?? 'auto';
const MAX_BATCH_CHOICES = [8, 16, 32] as const;
/** 'auto': room for three deadlines' worth of frames at final-exit capacity, so deadlines bind before the queue does. */
const queueSetting = values.queue ?? 'auto';
const threads = Number(values.threads);
const seed = Number(values.seed);
const minDurationMs = Number(values['min-duration-ms']);
const root = resolve(import.meta.dirname, '..');

const POLICIES = ['ours', 'always-final', 'always-exit-1', 'edgeke-static', 'confidence-only', 'oracle'] as const;
type PolicyName = (typeof POLICIES)[number];
const CONFIDENCE_LEVEL = '0.95' as const;

/** One test frame with what every exit answers for it (from one full pass), so oracle and tables need no reruns. */
interface TruthFrame {
  input: Float32Array;
  label: number;
  exitClass: number[];
  exitConfidence: number[];
  voteClass: number | undefined;
}

interface Row {
  model: string;
  load: number;
  policy: PolicyName;
  deadline_ms: number;
  frames: number;
  accuracy: number;
  attainment: number;
  shed_rate: number;
  p50_ms: number;
  p99_ms: number;
  mean_exit: number;
}

/** p-quantile of unsorted values (the profiler's interpolation). */
function quantileOfValues(values: readonly number[], p: number): number {
  return quantile([...values].sort((a, b) => a - b), p);
}

function shippedModels(): { dirs: string[]; smoke: boolean } {
  if (values.model !== undefined && values.model.length > 0) return { dirs: values.model.map((m) => resolve(m)), smoke: values.smoke === true };
  const dir = join(root, 'models');
  const found = existsSync(dir)
    ? readdirSync(dir)
        .filter((n) => existsSync(join(dir, n, 'manifest.json')))
        .sort()
        .map((n) => join(dir, n))
    : [];
  if (found.length > 0) return { dirs: found, smoke: false };
  return { dirs: [join(root, 'test/fixtures/tiny-model/image'), join(root, 'test/fixtures/tiny-model/signal')], smoke: true };
}

/** Test inputs in a seeded random order (test splits are often sorted by class; a stream is not). */
async function readInputs(dir: string, manifest: Manifest, smoke: boolean): Promise<{ inputs: Float32Array[]; labels: number[] | undefined; description: string }> {
  const random = seededRandom(seed);
  if (smoke) {
    const size = inputSize(manifest);
    const inputs = Array.from({ length: Math.min(frameCount, SMOKE_FRAMES) }, () => Float32Array.from({ length: size }, () => random() * 2 - 1));
    return { inputs, labels: undefined, description: 'seeded noise (smoke run: labels are the final exit answers)' };
  }
  const testSet = await openTestSet(dir, manifest);
  const all: { input: Float32Array; label: number }[] = [];
  for await (const batch of testSet.batches(64)) batch.inputs.forEach((input, i) => all.push({ input, label: batch.labels[i] ?? -1 }));
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [all[i], all[j]] = [all[j] as (typeof all)[number], all[i] as (typeof all)[number]];
  }
  const taken = all.slice(0, frameCount);
  return { inputs: taken.map((f) => f.input), labels: taken.map((f) => f.label), description: `${testSet.description}, ${taken.length} frames` };
}

/**
 * Runs every frame to the last exit once (batches of maxBatch). Also measures a full final-exit batch end to end
 * (the capacity unit: stages plus the runner's own work) and the part outside the stages (the planner's overhead).
 */
async function answerEveryExit(
  runner: MultiExitRunner,
  inputs: Float32Array[],
  labels: number[] | undefined,
  maxBatch: number,
): Promise<{ frames: TruthFrame[]; batchOverheadMs: number; fullBatchMs: number }> {
  const frames: TruthFrame[] = [];
  const overheads: number[] = [];
  const fullBatches: number[] = [];
  for (let start = 0; start < inputs.length; start += maxBatch) {
    const chunk = inputs.slice(start, start + maxBatch);
    const began = performance.now();
    const { answers, timings } = await runner.runBatch(chunk, { vote: true });
    const wall = performance.now() - began;
    overheads.push(wall - timings.reduce((sum, timing) => sum + timing.ms, 0));
    if (chunk.length === maxBatch) fullBatches.push(wall);
    answers.forEach((answer, i) => {
      const exitClass = answer.exits.map((e) => e.classIndex);
      frames.push({
        input: chunk[i] as Float32Array,
        label: labels?.[start + i] ?? (exitClass[exitClass.length - 1] as number),
        exitClass,
        exitConfidence: answer.exits.map((e) => e.confidence),
        voteClass: answer.vote?.classIndex,
      });
    });
  }
  return { frames, batchOverheadMs: Math.max(0, quantileOfValues(overheads, 0.5)), fullBatchMs: quantileOfValues(fullBatches, 0.5) };
}

/** Virtual time that runs at real speed while the model works and jumps over idle time. */
class VirtualClock {
  private base = 0;
  private realStart: number | undefined;
  now(): number {
    return this.realStart === undefined ? this.base : this.base + (performance.now() - this.realStart);
  }
  start(at: number): void {
    this.base = at;
    this.realStart = performance.now();
  }
  stop(): number {
    this.base = this.now();
    this.realStart = undefined;
    return this.base;
  }
}

interface ReplayContext {
  maxBatch: number;
  model: LoadedModel;
  view: ModelView;
  profileEntries: ConstructorParameters<typeof LatencyEstimator>[0];
  frames: TruthFrame[];
  batchOverheadMs: number;
  arrivals: number[];
  deadlineMs: number;
  staticExit: number;
  queueCapacity: number;
  /**
   * What confidence stops save and cost, learnt per planned policy for the model's whole run (warm-up and every load,
   * in order), as the service's executor learns it for its model's lifetime: the light-load replays, every frame to
   * its final exit, are where it sees how often a confident early answer differs from the deeper ones.
   */
  confidence: Map<PolicyName, ConfidencePassRateEstimator>;
}

async function replay(policyName: PolicyName, ctx: ReplayContext): Promise<Omit<Row, 'model' | 'load' | 'deadline_ms'>> {
  // The previous replay's garbage would otherwise be collected during this one: a pause of tens of milliseconds
  // against deadlines of ten. Available when run with --expose-gc (edgeke bench does).
  (globalThis as { gc?: () => void }).gc?.();
  const clock = new VirtualClock();
  const runner = new MultiExitRunner(ctx.model, { now: () => clock.now() });
  const estimator = new LatencyEstimator(ctx.profileEntries);
  let passRates = ctx.confidence.get(policyName);
  if (passRates === undefined) {
    passRates = new ConfidencePassRateEstimator(ctx.view);
    ctx.confidence.set(policyName, passRates);
  }
  // The service's controller, driven as the executor drives it; batch overhead seeded with the measured one.
  const controller = new ExitController({ model: ctx.view, latency: estimator, passRates, batchOverheadMs: ctx.batchOverheadMs });
  const unsubscribe = runner.onStageTiming((timing) => controller.observeStage(timing));
  const lastExit = ctx.view.exits.length;
  const policy: ExitPolicy = {
    mode: 'deadline',
    deadlineMs: ctx.deadlineMs,
    accuracyTarget: 1,
    confidenceStop: CONFIDENCE_LEVEL,
    confidenceStopWhen: 'busy',
    vote: true,
    latePolicy: 'shed',
    riskQuantile: 0.95,
  };
  const planned = policyName === 'ours';
  // No exit answers it correctly: exit 1, the least work for the same wrong answer.
  const oracleExit = ctx.frames.map((f) => f.exitClass.findIndex((c) => c === f.label) + 1 || 1);

  // Typed arrays, not an object per frame: the bench's own bookkeeping (tens of thousands of frames that live to the
  // end of the replay) should not add to the collector's work while a policy is measured.
  const outcome = new FrameOutcomes(ctx.frames.length);
  let queue: QueuedFrame[] = [];
  let next = 0;
  let t = 0;
  try {
    while (next < ctx.arrivals.length || queue.length > 0) {
      for (; next < ctx.arrivals.length && (ctx.arrivals[next] ?? Infinity) <= t; next++) {
        const refused = planned ? controller.admit(ctx.arrivals[next] ?? t, queue.length, ctx.queueCapacity) : admitToQueue(queue.length, ctx);
        if (refused !== null) continue; // queue-full: a miss
        queue.push({ id: String(next), captureTs: ctx.arrivals[next] ?? t, policy });
      }
      if (queue.length === 0) {
        t = ctx.arrivals[next] ?? t;
        continue;
      }
      clock.start(t); // planning costs time too
      let batch: readonly PlannedFrame[];
      let decide: ExitDecider;
      let answerByVote: (i: number, answer: FrameAnswer) => boolean = () => false;
      let plan: ReturnType<ExitController['plan']> | undefined;
      if (planned) {
        const controlled = controller.plan(queue, clock.now(), { maxBatch: ctx.maxBatch, queueCapacity: ctx.queueCapacity });
        plan = controlled;
        queue = controlled.waiting;
        batch = controlled.batch;
        decide = controlled.decide;
        answerByVote = (i, answer) => controlled.answerBy(i, answer, clock.now()) === 'vote';
      } else {
        const taken = queue.splice(0, ctx.maxBatch);
        const capOf = (q: QueuedFrame): number => (policyName === 'oracle' ? (oracleExit[Number(q.id)] ?? lastExit) : baselineLastExit(policyName, ctx));
        batch = taken.map((q) => ({ ...q, deadlineTs: q.captureTs + ctx.deadlineMs, capExit: capOf(q), stopWhenConfident: false, late: false, probe: false, predictedFinishTs: t }));
        decide = policyName === 'oracle' ? (i, exit) => (exit >= (batch[i]?.capExit ?? lastExit) ? 'stop' : 'continue') : baselineDecider(policyName, ctx);
      }
      if (batch.length === 0) {
        t = clock.stop();
        continue;
      }
      const batchStart = t;
      const run = await runner.runBatch(
        batch.map((f) => ctx.frames[Number(f.id)]?.input as Float32Array),
        { decide, vote: true, lastExit: Math.max(...batch.map((f) => f.capExit)) },
      );
      t = clock.stop();
      // Each frame's confidences and answers, exit by exit, teach the planner what confidence stops save and cost.
      if (plan !== undefined) controller.observe(plan, { answers: run.answers, startTs: batchStart, endTs: t, stagesMs: run.timings.reduce((sum, timing) => sum + timing.ms, 0) });
      run.answers.forEach((answer, i) => {
        const index = Number(batch[i]?.id);
        const truth = ctx.frames[index];
        if (truth === undefined) return;
        const byVote = answerByVote(i, answer) && answer.vote !== undefined;
        const classIndex = byVote ? answer.vote?.classIndex : answer.output.classIndex;
        outcome.record(index, classIndex === truth.label, t - (ctx.arrivals[index] ?? t), answer.exit);
      });
    }
  } finally {
    unsubscribe();
  }
  return { policy: policyName, ...outcome.summary(ctx.deadlineMs) };
}

/** What happened to each frame of a replay, by frame index (exit 0: not answered, i.e. refused or shed). */
class FrameOutcomes {
  private readonly exit: Uint8Array;
  private readonly correct: Uint8Array;
  private readonly latencyMs: Float64Array;

  constructor(readonly length: number) {
    this.exit = new Uint8Array(length);
    this.correct = new Uint8Array(length);
    this.latencyMs = new Float64Array(length).fill(NaN);
  }

  record(index: number, correct: boolean, latencyMs: number, exit: number): void {
    this.exit[index] = exit;
    this.correct[index] = correct ? 1 : 0;
    this.latencyMs[index] = latencyMs;
  }

  summary(deadlineMs: number): Omit<Row, 'model' | 'load' | 'deadline_ms' | 'policy'> {
    const latencies: number[] = [];
    let correct = 0;
    let onTime = 0;
    let exits = 0;
    for (let i = 0; i < this.length; i++) {
      const exit = this.exit[i] ?? 0;
      if (exit === 0) continue;
      const latency = this.latencyMs[i] ?? NaN;
      latencies.push(latency);
      correct += this.correct[i] ?? 0;
      if (latency <= deadlineMs) onTime++;
      exits += exit;
    }
    const answered = latencies.length;
    return {
      frames: this.length,
      accuracy: correct / Math.max(1, answered),
      attainment: onTime / Math.max(1, this.length),
      shed_rate: (this.length - answered) / Math.max(1, this.length),
      p50_ms: quantileOfValues(latencies, 0.5),
      p99_ms: quantileOfValues(latencies, 0.99),
      mean_exit: exits / Math.max(1, answered),
    };
  }
}

/**
 * Per model and load: whether ours is on the Pareto front of accuracy and attainment as the issue defines it (no
 * baseline better on both), which baselines would dominate it in the stricter, textbook sense too (at least as good on
 * both and better on one: a tie on attainment and a frame more right is enough), and at 2x whether it meets the
 * issue's target: attainment >= 99% with accuracy within 3 points of the final exit's (always-final on the same
 * stream).
 */
function judge(rows: readonly Row[]) {
  const verdicts: {
    model: string;
    load: number;
    on_pareto_front: boolean;
    better_on_both: string[];
    weakly_dominated_by: string[];
    meets_2x_target: boolean | null;
  }[] = [];
  for (const ours of rows.filter((r) => r.policy === 'ours')) {
    const peers = rows.filter((r) => r.model === ours.model && r.load === ours.load && r.policy !== 'ours' && r.policy !== 'oracle');
    const betterOnBoth = peers.filter((r) => r.accuracy > ours.accuracy && r.attainment > ours.attainment).map((r) => r.policy);
    const weaklyDominatedBy = peers
      .filter((r) => r.accuracy >= ours.accuracy && r.attainment >= ours.attainment && (r.accuracy > ours.accuracy || r.attainment > ours.attainment))
      .map((r) => r.policy);
    const final = peers.find((r) => r.policy === 'always-final');
    verdicts.push({
      model: ours.model,
      load: ours.load,
      on_pareto_front: betterOnBoth.length === 0,
      better_on_both: betterOnBoth,
      weakly_dominated_by: weaklyDominatedBy,
      meets_2x_target: ours.load === 2 && final !== undefined ? ours.attainment >= 0.99 && final.accuracy - ours.accuracy <= 0.03 : null,
    });
  }
  return verdicts;
}

/** The deepest exit a baseline runs to (the runner then skips features nobody uses, as it does for ours). */
function baselineLastExit(policyName: PolicyName, ctx: ReplayContext): number {
  if (policyName === 'always-exit-1') return 1;
  if (policyName === 'edgeke-static') return ctx.staticExit;
  return ctx.view.exits.length;
}

function baselineDecider(policyName: PolicyName, ctx: ReplayContext): ExitDecider {
  switch (policyName) {
    case 'always-exit-1':
      return () => 'stop';
    case 'edgeke-static':
      return (_i, exit) => (exit >= ctx.staticExit ? 'stop' : 'continue');
    case 'confidence-only': {
      const policy = { confidenceStop: CONFIDENCE_LEVEL } as ExitPolicy;
      return (_i, exit, confidence) => (passesConfidence(ctx.view, policy, exit, confidence) ? 'stop' : 'continue');
    }
    default:
      return () => 'continue';
  }
}

/** The EdgeKE paper's two tables, unloaded (batch 1, profiled medians), from the per-exit answers. */
function edgekeTables(modelName: string, view: ModelView, estimator: LatencyEstimator, frames: TruthFrame[], manifest: Manifest) {
  const exits = view.exits;
  const last = exits.length;
  const cost = exits.map((e) => estimator.stagesMs(1, e.stage, 1, 0.5));
  const finalCost = cost[last - 1] ?? NaN;
  const accuracyAt = (k: number): number => frames.filter((f) => f.exitClass[k - 1] === f.label).length / Math.max(1, frames.length);
  const finalAccuracy = accuracyAt(last);
  const beats = manifest.vote?.beatsLastExit === true;

  /** Our per-frame choice within a budget: first confident exit up to the deepest that fits, vote at the end. */
  const oursWithin = (capExit: number, level: '0.90' | '0.95' | '0.99') => {
    let correct = 0;
    let spent = 0;
    const policy = { confidenceStop: level } as ExitPolicy;
    for (const f of frames) {
      let stop = capExit;
      for (let k = 1; k < capExit; k++) {
        if (passesConfidence(view, policy, k, f.exitConfidence[k - 1] ?? 0)) {
          stop = k;
          break;
        }
      }
      const confidentAtStop = passesConfidence(view, policy, stop, f.exitConfidence[stop - 1] ?? 0);
      const answer = stop === last && !confidentAtStop && beats && f.voteClass !== undefined ? f.voteClass : f.exitClass[stop - 1];
      if (answer === f.label) correct++;
      spent += cost[stop - 1] ?? 0;
    }
    return { accuracy: correct / Math.max(1, frames.length), meanMs: spent / Math.max(1, frames.length) };
  };

  const accuracyLossAtBudget = [0.25, 0.5, 0.75, 1].map((fraction) => {
    const budgetMs = fraction * finalCost;
    let staticExit = 0;
    cost.forEach((c, k) => {
      if (c <= budgetMs) staticExit = k + 1;
    });
    const ours = staticExit > 0 ? oursWithin(staticExit, CONFIDENCE_LEVEL) : undefined;
    return {
      model: modelName,
      budget_ms: budgetMs,
      budget_fraction_of_final: fraction,
      static_exit: staticExit || null,
      static_accuracy: staticExit > 0 ? accuracyAt(staticExit) : null,
      static_loss_vs_final: staticExit > 0 ? finalAccuracy - accuracyAt(staticExit) : null,
      ours_accuracy: ours?.accuracy ?? null,
      ours_loss_vs_final: ours === undefined ? null : finalAccuracy - ours.accuracy,
      ours_mean_ms: ours?.meanMs ?? null,
    };
  });

  const lastValidation = exits[last - 1]?.validationAccuracy ?? 1;
  const speedupAtAccuracy = [
    ...[0, 0.01, 0.02, 0.05].map((drop) => {
      const requirement = lastValidation - drop;
      const chosen = exits.find((e) => e.validationAccuracy >= requirement)?.index ?? last;
      return {
        model: modelName,
        method: 'static exit (validation accuracy)',
        requirement: `validation >= ${requirement.toFixed(4)} (final − ${(drop * 100).toFixed(0)} pt)`,
        exit: chosen,
        accuracy: accuracyAt(chosen),
        speedup_vs_final: finalCost / (cost[chosen - 1] ?? finalCost),
      };
    }),
    ...(['0.99', '0.95', '0.90'] as const).map((level) => {
      const result = oursWithin(last, level);
      return {
        model: modelName,
        method: `confidence early exit at ${level}${beats ? ' + vote' : ''}`,
        requirement: `calibrated accuracy ${level}`,
        exit: null,
        accuracy: result.accuracy,
        speedup_vs_final: finalCost / result.meanMs,
      };
    }),
  ];
  return { finalAccuracy, exitCostMs: cost, exitAccuracy: exits.map((e) => accuracyAt(e.index)), accuracyLossAtBudget, speedupAtAccuracy };
}

async function main(): Promise<void> {
  const { dirs, smoke } = shippedModels();
  if (smoke) console.log('No shipped models under models/: smoke run on the tiny fixtures (accuracy = agreement with the final exit).');
  const rows: Row[] = [];
  const models: unknown[] = [];
  const accuracyLossAtBudget: unknown[] = [];
  const speedupAtAccuracy: unknown[] = [];
  for (const dir of dirs) {
    const model = await loadModel(dir, { engine: 'onnx', threads });
    try {
      const { manifest } = model;
      const view = modelViewOf(manifest);
      const profileMaxBatch = maxBatchSetting === 'auto' ? Math.max(...MAX_BATCH_CHOICES) : Number(maxBatchSetting);
      const { profile } = await loadOrMeasureProfile(dir, { maxBatch: profileMaxBatch, threads, repeats: 20, warmup: 3 }, model);
      const seeded = new LatencyEstimator(profile.entries);
      const stages = view.exits[view.exits.length - 1]?.stage ?? 1;
      const maxBatch =
        maxBatchSetting === 'auto'
          ? Math.max(...MAX_BATCH_CHOICES.filter((b) => b === 8 || seeded.stagesMs(1, stages, b, 0.5) <= deadlineFloorMs / 4))
          : Number(maxBatchSetting);
      const { inputs, labels, description } = await readInputs(dir, manifest, smoke);
      const { frames, batchOverheadMs, fullBatchMs } = await answerEveryExit(new MultiExitRunner(model), inputs, labels, maxBatch);
      // Capacity from a measured full final-exit batch, end to end (the profile alone misses the runner's own work).
      const finalBatchMs = Number.isFinite(fullBatchMs) ? fullBatchMs : seeded.stagesMs(1, stages, maxBatch, 0.5) + batchOverheadMs;
      const capacityPerMs = maxBatch / finalBatchMs;
      // Small models finish a batch in well under a millisecond: the floor keeps deadlines at what IoT flows ask for.
      const deadlineMs = Math.max(deadlineFloorMs, deadlineFactor * finalBatchMs);
      const queueCapacity = queueSetting === 'auto' ? Math.max(64, Math.ceil(3 * deadlineMs * capacityPerMs)) : Number(queueSetting);
      let staticExit = 1;
      view.exits.forEach((e) => {
        if (seeded.stagesMs(1, e.stage, 1, 0.95) <= deadlineMs) staticExit = e.index;
      });
      const tables = edgekeTables(manifest.name, view, seeded, frames, manifest);
      accuracyLossAtBudget.push(...tables.accuracyLossAtBudget);
      speedupAtAccuracy.push(...tables.speedupAtAccuracy);
      models.push({
        name: manifest.name,
        data: description,
        max_batch: maxBatch,
        deadline_ms: deadlineMs,
        final_exit_capacity_per_s: capacityPerMs * 1000,
        static_exit: staticExit,
        full_final_batch_ms: finalBatchMs,
        queue_capacity: queueCapacity,
        batch_overhead_ms: batchOverheadMs,
        exit_cost_ms_batch1_p50: tables.exitCostMs,
        exit_accuracy: tables.exitAccuracy,
      });
      console.log(
        `\n${manifest.name}: ${description}; deadline ${deadlineMs.toFixed(1)} ms, final-exit capacity ${(capacityPerMs * 1000).toFixed(0)}/s, batch overhead ${batchOverheadMs.toFixed(2)} ms, static exit ${staticExit}, max batch ${maxBatch}`,
      );
      console.log('load  policy            accuracy  attainment  shed   p50 ms   p99 ms  mean exit');
      const poissonArrivals = (load: number, count: number): number[] => {
        const random = seededRandom(seed * 1000 + Math.round(load * 100));
        const arrivals: number[] = [];
        let at = 0;
        for (let i = 0; i < count; i++) arrivals.push((at += -Math.log(1 - random()) / (load * capacityPerMs)));
        return arrivals;
      };
      // Warm-up, not measured: a service runs for days, so the JIT compiling the planner or a runner path on its
      // first calls is not what a replay of a second or two should measure. With 200 frames, the first replay
      // measured (ours at 0.5x) still met compilation pauses of a few ms on the planner's busy paths.
      const warmUp = Math.min(frames.length, 2000);
      const setting = {
        model,
        view,
        profileEntries: profile.entries,
        maxBatch,
        batchOverheadMs,
        deadlineMs,
        staticExit,
        queueCapacity,
        confidence: new Map<PolicyName, ConfidencePassRateEstimator>(),
      };
      for (const policyName of POLICIES) {
        await replay(policyName, { ...setting, frames: frames.slice(0, warmUp), arrivals: poissonArrivals(1, warmUp) });
      }
      for (const load of loads) {
        // The stream lasts at least minDurationMs (the test frames cycle): a small model answers a few hundred frames
        // in a few deadlines, and one GC pause would then decide a whole row.
        const count = Math.max(frames.length, Math.ceil(load * capacityPerMs * minDurationMs));
        const stream = Array.from({ length: count }, (_, i) => frames[i % frames.length] as TruthFrame);
        const arrivals = poissonArrivals(load, count);
        for (const policyName of POLICIES) {
          const result = await replay(policyName, { ...setting, frames: stream, arrivals });
          const row: Row = { model: manifest.name, load, deadline_ms: deadlineMs, ...result };
          rows.push(row);
          console.log(
            `${load.toFixed(1).padStart(4)}  ${policyName.padEnd(16)}  ${row.accuracy.toFixed(4)}    ${row.attainment.toFixed(4)}  ${row.shed_rate.toFixed(3)}  ${row.p50_ms.toFixed(1).padStart(7)}  ${row.p99_ms.toFixed(1).padStart(7)}  ${row.mean_exit.toFixed(2)}`,
          );
        }
      }
    } finally {
      await model.close();
    }
  }
  const out = resolve(root, values.out ?? 'bench/results/policies.json');
  mkdirSync(join(out, '..'), { recursive: true });
  const verdicts = judge(rows);
  console.log('\nours against the baselines (oracle excluded: it reads the labels):');
  for (const v of verdicts) {
    const tied = v.weakly_dominated_by.filter((p) => !v.better_on_both.includes(p));
    const front = v.on_pareto_front
      ? `on the Pareto front${tied.length > 0 ? ` (weakly dominated: ${tied.join(', ')} as good on one, better on the other)` : ''}`
      : `dominated by ${v.better_on_both.join(', ')} (better on both)`;
    const target = v.load === 2 ? `; 2x target (attainment >= 99%, accuracy within 3 points of always-final): ${v.meets_2x_target ? 'met' : 'NOT met'}` : '';
    console.log(`  ${v.model} ${v.load.toFixed(1)}x: ${front}${target}`);
  }
  const result = {
    generatedAt: new Date().toISOString(),
    smoke,
    // Replays run at real speed: on a shared machine the load average says how much the numbers can be trusted.
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, threads, loadAverage1m: loadavg()[0] },
    settings: { frames: values.frames, minDurationMs, loads, deadlineFactor, deadlineFloorMs, maxBatch: maxBatchSetting, queue: queueSetting, seed, confidenceLevel: CONFIDENCE_LEVEL },
    models,
    rows,
    verdicts,
    tables: { accuracyLossAtBudget, speedupAtAccuracy },
  };
  writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  console.log(`\nwrote ${out}`);
  if (values['no-plot'] !== true) {
    // One plot per model beside the results: <out without .json>-<model>.png.
    const prefix = out.replace(/\.json$/, '');
    try {
      execFileSync('/usr/bin/python3', [join(root, 'bench/plot_policies.py'), out, prefix], { stdio: 'inherit' });
      console.log(`wrote ${prefix}-<model>.png`);
    } catch (error) {
      console.error(`bench: plot failed (${(error as Error).message.split('\n')[0]})`);
    }
  }
}

await main();
